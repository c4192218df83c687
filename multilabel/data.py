"""Data in: CSV loading with checks a person can act on, a learnable synthetic generator, standardization."""

from __future__ import annotations

import csv
import fnmatch
import io
import os
from dataclasses import dataclass, field
from typing import IO, Any, Sequence, Union

import numpy as np
import pandas as pd

from .errors import MultilabelError

CsvSource = Union[str, os.PathLike, IO[bytes], IO[str]]
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Dataset:
    """Features and labels as float32 arrays, with names and a short description for the run store.

    ``X``: (n, num_features) float32. ``Y``: (n, num_labels) float32 of 0.0/1.0.
    """

    X: np.ndarray
    Y: np.ndarray
    feature_names: list[str]
    label_names: list[str]
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return int(self.X.shape[0])


@dataclass
class Standardizer:
    """Per-feature mean and std from the training split; travels with the model. Arrays of shape (num_features,)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        std[std < 1e-12] = 1.0  # a constant column stays constant (0) instead of dividing by zero
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.std).astype(np.float32, copy=False)


def make_synthetic(n_samples: int = 2000, input_size: int = 10, num_outputs: int = 5, noise: float = 0.1,
                   seed: int = 0) -> Dataset:
    """Labels drawn from a hidden random 'teacher' network, so a student can learn them.

    Every label is a thresholded teacher logit plus Gaussian noise (``noise`` is its std relative to the logit's
    spread). Biases are set by quantile so base rates differ: the first labels are common, the last ones rare
    (down to 5%), and label pairs share teacher units, so labels correlate.
    """
    if n_samples < 2:
        raise MultilabelError(f"n_samples must be >= 2, got {n_samples}")
    if input_size < 1 or num_outputs < 1:
        raise MultilabelError(f"input_size and num_outputs must be >= 1, got {input_size} and {num_outputs}")
    if noise < 0:
        raise MultilabelError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, input_size)).astype(np.float32)
    hidden = max(8, num_outputs)
    W1 = rng.standard_normal((input_size, hidden)) / np.sqrt(input_size)
    W2 = rng.standard_normal((hidden, num_outputs)) / np.sqrt(hidden)
    # Neighbouring labels share half their teacher weights: correlated labels, as in real multi-label data.
    W2[:, 1:] = 0.5 * W2[:, 1:] + 0.5 * W2[:, :-1]
    logits = np.tanh(X @ W1) @ W2
    logits = (logits - logits.mean(axis=0)) / (logits.std(axis=0) + 1e-12)
    logits = logits + noise * rng.standard_normal(logits.shape)
    base_rates = np.linspace(0.5, 0.05, num_outputs) if num_outputs > 1 else np.array([0.5])
    cut = np.array([np.quantile(logits[:, j], 1 - base_rates[j]) for j in range(num_outputs)])
    Y = (logits > cut).astype(np.float32)
    return Dataset(
        X=X, Y=Y,
        feature_names=[f"x{i}" for i in range(input_size)],
        label_names=[f"label_{j}" for j in range(num_outputs)],
        description={"source": "synthetic", "rows": n_samples, "noise": noise, "seed": seed},
    )


def read_csv(source: CsvSource, name: str | None = None) -> pd.DataFrame:
    """Read a CSV with a header row into a DataFrame; raise MultilabelError for files that are not usable CSV."""
    label = name or _source_name(source)
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    start = source.tell() if callable(getattr(source, "seekable", None)) and source.seekable() else None
    try:
        frame = pd.read_csv(source, engine="pyarrow")
    except pd.errors.EmptyDataError:
        raise MultilabelError(f"{label} is empty; give a CSV with a header row and at least one data row") from None
    except (ValueError, UnicodeDecodeError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        if isinstance(exc, FileNotFoundError):
            raise MultilabelError(f"{label} does not exist; check the path") from None
        raise MultilabelError(f"{label} is not a readable CSV ({error_reason(exc)}); save it as comma-separated "
                              "text with a header row") from None
    check_column_names(_raw_header(source, start) or [str(c) for c in frame.columns], label)
    if len(frame) == 0:
        raise MultilabelError(f"{label} has a header but no data rows; add at least one row")
    return frame


def _source_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    return f"'{getattr(source, 'name', 'the uploaded file')}'"


def error_reason(exc: BaseException) -> str:
    """The first line of a parser's message, short; a binary file's bytes are summarized, never echoed."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "\ufffd" in first or not first.isprintable():
        return "its content is binary, not text: is it a spreadsheet, an image or an archive?"
    return first if len(first) <= 120 else first[:117] + "..."


def _raw_header(source: Any, start: int | None) -> list[str] | None:
    """The header row as written, or None where it cannot be read again (a stream that cannot seek).

    pandas renames a repeated column 'a' to 'a.1', so a repeat is only visible in the raw line.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            first = fh.readline()
    elif start is not None:
        source.seek(start)
        first = source.readline()
    else:
        return None
    if isinstance(first, bytes):
        first = first.decode("utf-8-sig", errors="replace")
    return next(csv.reader([first.lstrip("\ufeff")]), None)


def check_column_names(columns: Sequence[str], label: str) -> None:
    """Raise MultilabelError for a repeated column name or a header row that is all numbers."""
    seen: set[str] = set()
    for col in columns:
        if col in seen:
            raise MultilabelError(f"{label} has the column name {col!r} twice; give every column a unique name")
        seen.add(col)
    if all(_looks_numeric(c) for c in columns):
        raise MultilabelError(f"{label} has no header row (its first line is all numbers); add a line of column "
                              "names at the top")


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def match_labels(columns: Sequence[str], spec: str | Sequence[str]) -> list[str]:
    """Columns chosen by ``spec``: a comma-separated string or a list of names or shell globs (``'Class*'``).

    Returns the matched columns in file order. Raises MultilabelError if a pattern matches nothing.
    """
    patterns = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec) if p and p.strip()]
    if not patterns:
        raise MultilabelError("no label columns given; name them, e.g. --labels 'a,b' or --labels 'Class*'")
    chosen: set[str] = set()
    for pattern in patterns:
        hits = [c for c in columns if c == pattern or fnmatch.fnmatchcase(c, pattern)]
        if not hits:
            preview = ", ".join(list(columns)[:8]) + (" ..." if len(columns) > 8 else "")
            raise MultilabelError(f"no column matches label pattern {pattern!r}; columns are: {preview}")
        chosen.update(hits)
    return [c for c in columns if c in chosen]


def guess_label_columns(frame: pd.DataFrame) -> list[str]:
    """A sensible default choice of label columns: the trailing run of columns holding only 0/1 values."""
    guess: list[str] = []
    for col in reversed(list(frame.columns)):
        try:
            _label_column(frame[col], str(col), "")
        except MultilabelError:
            break
        guess.append(str(col))
    if len(guess) == len(frame.columns):  # every column is binary: keep at least one as a feature
        guess = guess[: len(guess) - 1]
    return list(reversed(guess))


def dataset_from_frame(frame: pd.DataFrame, labels: str | Sequence[str], name: str = "the CSV") -> Dataset:
    """Split a DataFrame into features (all other columns, which must be numeric) and 0/1 labels."""
    frame = frame.rename(columns=str)
    label_names = match_labels(list(frame.columns), labels)
    feature_names = [c for c in frame.columns if c not in set(label_names)]
    if not feature_names:
        raise MultilabelError(f"{name} has no feature columns left after taking {len(label_names)} label columns; "
                              "choose fewer label columns")
    Y = labels_array(frame, label_names, name)
    X = features_array(frame, feature_names, name)
    return Dataset(X=X, Y=Y, feature_names=feature_names, label_names=label_names,
                   description={"source": "csv", "name": name.strip("'"), "rows": len(frame),
                                "features": len(feature_names), "labels": label_names})


def load_csv(source: CsvSource, labels: str | Sequence[str], name: str | None = None) -> Dataset:
    """Read a CSV and choose its label columns (see ``match_labels``); other columns are numeric features."""
    label = name or _source_name(source)
    return dataset_from_frame(read_csv(source, label), labels, label)


def labels_array(frame: pd.DataFrame, columns: Sequence[str], name: str = "the CSV") -> np.ndarray:
    """The given label columns as a (n, len(columns)) float32 array of 0.0/1.0; MultilabelError names a bad cell."""
    return np.column_stack([_label_column(frame[c], c, name) for c in columns]).astype(np.float32)


def features_array(frame: pd.DataFrame, columns: Sequence[str], name: str = "the CSV",
                   row_offset: int = 0) -> np.ndarray:
    """The given columns as a (n, len(columns)) float32 array; MultilabelError names a non-numeric or missing cell.

    ``row_offset`` is added to row numbers in messages (for files read in chunks). Rows are numbered as a
    spreadsheet shows them: the header is row 1, the first data row is row 2.
    """
    out = np.empty((len(frame), len(columns)), dtype=np.float32)
    for j, col in enumerate(columns):
        series = frame[col]
        if series.dtype == bool:
            raise MultilabelError(f"feature column {col!r} in {name} holds true/false values; "
                                  "if it is a label, add it to the label columns")
        if not pd.api.types.is_numeric_dtype(series):
            values = pd.to_numeric(series, errors="coerce")
            bad = values.isna() & series.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise MultilabelError(f"feature column {col!r} in {name} is not numeric (row {row + row_offset + 2}: "
                                      f"{series.iloc[row]!r}); remove the column or make it numeric")
            series = values
        column = series.to_numpy(dtype=np.float64, na_value=np.nan)
        usable = np.abs(column) <= FLOAT32_MAX  # False for NaN, inf, and values float32 would turn into inf
        if not usable.all():
            row = int(np.flatnonzero(~usable)[0])
            value = column[row]
            what = ("an empty or NaN cell" if np.isnan(value) else "an infinite cell" if np.isinf(value)
                    else f"the value {value:g}, beyond float32's range (about 3.4e38),")
            raise MultilabelError(f"feature column {col!r} in {name} has {what} at row {row + row_offset + 2}; "
                                  "fill or drop that row")
        out[:, j] = column
    return out


_TRUE = {"1", "1.0", "true", "yes"}
_FALSE = {"0", "0.0", "false", "no"}


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds, so messages show 2, not np.int64(2)."""
    return value.item() if isinstance(value, np.generic) else value


def _label_column(series: pd.Series, col: str, name: str) -> np.ndarray:
    """A label column as float 0/1; accepts 0/1 numbers, booleans and the strings '0'/'1'/'true'/'false'."""
    where = f" in {name}" if name else ""
    if series.isna().any():
        row = int(np.flatnonzero(series.isna().to_numpy())[0])
        raise MultilabelError(f"label column {col!r}{where} has an empty cell at row {row + 2}; every label cell "
                              "must be 0 or 1")
    if series.dtype == bool:
        return series.to_numpy(dtype=np.float32)
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=np.float64)
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise MultilabelError(f"label column {col!r}{where} has the value {_plain(series.iloc[row])!r} at row "
                                  f"{row + 2}; labels must be 0 or 1 (is it a feature? leave it out of the labels)")
        return values.astype(np.float32)
    text = series.astype(str).str.strip().str.lower()
    ones, zeros = text.isin(_TRUE), text.isin(_FALSE)
    bad = ~(ones | zeros)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise MultilabelError(f"label column {col!r}{where} has the value {_plain(series.iloc[row])!r} at row "
                              f"{row + 2}; labels must be 0 or 1 (is it a feature? leave it out of the labels)")
    return ones.to_numpy(dtype=np.float32)
