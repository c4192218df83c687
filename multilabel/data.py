"""Data in: CSV and Parquet loading with checks a person can act on, a learnable synthetic generator,
standardization.

Past 500 lines on purpose: every front door (training, evaluation, prediction, the pages' uploads) reads tables
through the one reader here, and its format sniffing, checks and one-line messages belong together.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator, Optional, Sequence, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

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
    # Things that load but deserve a look (one line each; the CLI prints them as 'warning: ...', the Train page
    # shows them), e.g. a label column that is 0 in every row.
    warnings: list[str] = field(default_factory=list)

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


# -- the one CSV reader -------------------------------------------------------------------------------------------
# Training, evaluation, the pages and batch prediction all read CSVs through open_csv (streaming, in blocks) or
# read_csv (the whole file into a DataFrame): one way to detect the format, one set of messages. read_csv also reads
# Parquet (a file that starts with Parquet's magic bytes, or is named *.parquet), with the same checks after it.

# Small blocks: pyarrow's streaming reader keeps a few dozen blocks in flight, so the block size sets the memory
# ceiling; small ones parse faster too (numbers: benchmarks/README.md, "Measurements moved out of code comments").
CSV_BLOCK_BYTES = 4 << 20
SNIFF_BYTES = 64 << 10  # the head of a file looked at to tell its encoding and delimiter
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
BINARY_REASON = "its content is binary, not text: is it a spreadsheet, an image or an archive?"


@dataclass
class CsvFormat:
    """What the head of a file says about it: pyarrow's encoding name and the field delimiter."""

    encoding: str = "utf8"  # or "utf16" (with a BOM), "utf-16-le"/"utf-16-be" (without), "cp1252", "latin1"
    delimiter: str = ","


class CsvStream:
    """A CSV opened for reading in blocks: the header is checked, each batch is parsed as it is asked for.

    Iterating yields ``pyarrow.RecordBatch`` es of at most about ``CSV_BLOCK_BYTES`` of text each; a parse error in a
    later block becomes the same one-line MultilabelError as one in the first block.
    """

    def __init__(self, reader: Any, label: str, fmt: CsvFormat) -> None:
        self.reader, self.label, self.format = reader, label, fmt
        self.schema = reader.schema
        self.names: list[str] = list(self.schema.names)

    def __iter__(self) -> Iterator[Any]:
        try:
            for batch in self.reader:
                yield batch
        except (ValueError, UnicodeError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise csv_error(exc, self.label, self.names) from None


def open_csv(source: CsvSource, name: str | None = None, column_types: Optional[dict[str, Any]] = None,
             block_size: int = CSV_BLOCK_BYTES) -> CsvStream:
    """Open a CSV (a path, bytes, or a binary/text file object) for streaming; raise MultilabelError for anything
    that is not a usable CSV with a header row: a missing path, a folder, an empty or binary file, repeated or
    numeric column names.

    The format is detected from the file's head (see ``sniff``): UTF-8, UTF-16 or Windows code page (cp1252) text;
    comma-, semicolon-, tab- or pipe-separated. ``column_types``: pyarrow types for named columns (e.g. float32).
    Types of other columns are inferred from the first block.
    """
    label = name or source_name(source)
    source, fmt, options = _csv_options(source, label, column_types, block_size)
    try:
        stream = CsvStream(pacsv.open_csv(source, **options), label, fmt)  # the schema: the header is decoded here
    except (ValueError, UnicodeError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise csv_error(exc, label) from None
    except OSError as exc:
        raise MultilabelError(f"{label} cannot be read ({exc.strerror or exc}); check the file") from None
    check_column_names(stream.names, label)
    return stream


def read_csv(source: CsvSource, name: str | None = None) -> pd.DataFrame:
    """Read a whole CSV with a header row, or a Parquet file (see ``is_parquet``), into a DataFrame; what is
    accepted and refused is as for ``open_csv`` (Parquet: ``open_parquet``).

    Unlike the streaming reader, a column's type is inferred from the whole file (ints above, a float further
    down: a float column), and blocks are parsed on all cores.
    """
    label = name or source_name(source)
    if is_parquet(source, label):
        table = open_parquet(source, label).read()
        if table.num_rows == 0:
            raise MultilabelError(f"{label} has columns but no data rows; add at least one row")
        return table.to_pandas()
    source, _, options = _csv_options(source, label, None, CSV_BLOCK_BYTES)
    try:
        # The system allocator, not Arrow's default mimalloc pool: a server that parses a big upload gets the
        # memory back once the table is freed (mimalloc kept it resident; benchmarks/README.md).
        table = pacsv.read_csv(source, **options, memory_pool=pa.system_memory_pool())
        names = table.column_names  # decoding a name can fail too
    except (ValueError, UnicodeError) as exc:
        raise csv_error(exc, label) from None
    except OSError as exc:
        raise MultilabelError(f"{label} cannot be read ({exc.strerror or exc}); check the file") from None
    check_column_names(names, label)
    if table.num_rows == 0:
        raise MultilabelError(f"{label} has a header but no data rows; add at least one row")
    frame = table.to_pandas(memory_pool=pa.system_memory_pool())
    del table
    release_memory()
    return frame


def release_memory() -> None:
    """Give memory freed after a big parse back to the system: Arrow's pool keeps freed blocks for reuse, and glibc's
    malloc keeps freed heap pages, so a long-lived server's RSS stayed at its peak after each large upload."""
    try:
        pa.default_memory_pool().release_unused()
    except AttributeError:  # pragma: no cover - an older pyarrow
        pass
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(source: Any, label: str | None = None) -> bool:
    """True for a Parquet file: its first bytes are Parquet's magic ``PAR1``, or its name ends in .parquet/.pq (so a
    damaged or mislabelled .parquet file gets the Parquet reader's message, not a CSV parser's)."""
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "")
    if isinstance(name, str) and name.lower().endswith(PARQUET_SUFFIXES):
        return True
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:4]) == PARQUET_MAGIC
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as fh:
                return fh.read(4) == PARQUET_MAGIC
        except OSError:
            return False  # the CSV reader says what is wrong with the path
    if isinstance(source, io.TextIOBase) or not (callable(getattr(source, "seekable", None)) and source.seekable()):
        return False
    start = source.tell()
    try:
        return source.read(4) == PARQUET_MAGIC
    finally:
        source.seek(start)


def open_parquet(source: Any, name: str | None = None) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` (read whole with ``.read()``, or by row groups with ``.iter_batches``);
    MultilabelError for a missing path, a folder, a file that is not Parquet, repeated column names."""
    import pyarrow.parquet as pq

    label = name or source_name(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise MultilabelError(f"{label} is a folder, not a file; give the path of a Parquet or CSV file")
        if not path.exists():
            raise MultilabelError(f"{label} does not exist; check the path")
        source = os.fspath(source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        # pre_buffer off: with it (pyarrow's default) the reader kept every row group it had read buffered, so
        # streaming a big file grew arrow's memory with every group; off, it stays at one row group's.
        parquet = pq.ParquetFile(source, pre_buffer=False)
        names = parquet.schema_arrow.names
    except OSError as exc:  # pyarrow's IO errors (a file that cannot be opened or read) are OSErrors
        raise MultilabelError(f"{label} cannot be read ({exc.strerror or error_reason(exc)}); check the file") from None
    except (ValueError, TypeError) as exc:  # pyarrow's ArrowInvalid (not Parquet, damaged) is a ValueError
        raise MultilabelError(f"{label} is not a readable Parquet file ({error_reason(exc)}); save it with "
                              "pandas' DataFrame.to_parquet, or give a CSV") from None
    check_column_names(names, label)
    return parquet


def _csv_options(source: CsvSource, label: str, column_types: Optional[dict[str, Any]],
                 block_size: int) -> tuple[Any, CsvFormat, dict[str, Any]]:
    """(a source pyarrow can read, its detected format, pyarrow's read/parse/convert options)."""
    source = _seekable(source, label)
    fmt = sniff(_head(source, label), label)
    return source, fmt, {
        "read_options": pacsv.ReadOptions(block_size=block_size, encoding=fmt.encoding),
        "parse_options": pacsv.ParseOptions(delimiter=fmt.delimiter),
        # An empty cell in a text column is missing (as pandas reads it), not an empty string.
        "convert_options": pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=True),
    }


def sniff(head: bytes, label: str) -> CsvFormat:
    """The encoding and delimiter of a CSV from its first bytes; MultilabelError for an empty or binary file.

    Encoding: a UTF-16 BOM, or NUL bytes in every other place, is UTF-16; other NUL bytes or many control characters
    are binary; bytes that are not UTF-8 are the Windows code page (what spreadsheets save as "CSV"). Delimiter: a
    comma, unless the header line has none but has semicolons, tabs or pipes (the most frequent of them wins).
    """
    fmt = CsvFormat()
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        fmt.encoding = "utf16"  # pyarrow (via Python's codec) reads the BOM and decodes
    elif b"\x00" in head:
        even, odd = head[0::2], head[1::2]
        if odd and odd.count(0) > 0.9 * len(odd) and even.count(0) == 0:
            fmt.encoding = "utf-16-le"
        elif even and even.count(0) > 0.9 * len(even) and odd.count(0) == 0:
            fmt.encoding = "utf-16-be"
        else:
            raise MultilabelError(f"{label} is not a readable CSV ({BINARY_REASON}); save it as comma-separated "
                                  "text with a header row")
    else:
        controls = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 13))
        if controls > 0.01 * len(head):
            raise MultilabelError(f"{label} is not a readable CSV ({BINARY_REASON}); save it as comma-separated "
                                  "text with a header row")
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not just a character cut in two at the end of the head
                # Not UTF-8: most likely a spreadsheet's "CSV" in the Windows code page (é as one byte, 0xe9).
                fmt.encoding = "cp1252" if _decodes(head, "cp1252") else "latin1"
    codec = {"utf8": "utf-8-sig", "utf16": "utf-16"}.get(fmt.encoding, fmt.encoding)
    text = head.decode(codec, errors="replace")
    if not text.strip():
        raise MultilabelError(f"{label} is empty; give a CSV with a header row and at least one data row")
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip("\r\n") else ""
    if "," not in header:
        counts = {d: header.count(d) for d in OTHER_DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        if counts[best] > 0:
            fmt.delimiter = best
    return fmt


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def csv_error(exc: BaseException, label: str, names: Sequence[str] = ()) -> MultilabelError:
    """The one-line message for a parser error (from the header or any later block)."""
    reason = error_reason(exc)
    if "Empty CSV file" in reason:
        return MultilabelError(f"{label} is empty; give a CSV with a header row and at least one data row")
    if isinstance(exc, UnicodeDecodeError) or "invalid UTF8" in reason:
        return MultilabelError(f"{label} is not UTF-8 text further down (its first lines are); save it as UTF-8")
    found = re.search(r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to \w+: invalid value '(.*)'",
                      reason)
    if found and int(found.group(1)) < len(names):  # a later block broke the type inferred from the first one
        column, row, value = names[int(found.group(1))], found.group(2), found.group(3)
        where = f"at row {row}" if row else "further down"
        return MultilabelError(f"column {column!r} in {label} has the value {value!r} {where}, where the rows above "
                               "are numbers; fix that cell (or remove the column)")
    return MultilabelError(f"{label} is not a readable CSV ({reason}); save it as comma-separated text with a "
                           "header row")


def _seekable(source: CsvSource, label: str) -> Any:
    """A source pyarrow can read twice from the start: a path stays a path (checked here), bytes and text streams
    become BytesIO, a binary stream that cannot seek is read into memory."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise MultilabelError(f"{label} is a folder, not a file; give the path of a CSV file")
        if not path.exists():
            raise MultilabelError(f"{label} does not exist; check the path")
        return os.fspath(source)
    if isinstance(source, io.TextIOBase):
        return io.BytesIO(source.read().encode("utf-8"))
    if not (callable(getattr(source, "seekable", None)) and source.seekable()):
        return io.BytesIO(source.read())
    return source


def _head(source: Any, label: str) -> bytes:
    if isinstance(source, str):
        try:
            with open(source, "rb") as fh:
                return fh.read(SNIFF_BYTES)
        except OSError as exc:
            raise MultilabelError(f"{label} cannot be read ({exc.strerror or exc}); check the file") from None
    start = source.tell()
    try:
        return source.read(SNIFF_BYTES)
    finally:
        source.seek(start)


def source_name(source: Any) -> str:
    """How messages name a CSV: its path, or an uploaded file's name, in quotes."""
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    return f"'{getattr(source, 'name', 'the uploaded file')}'"


def error_reason(exc: BaseException) -> str:
    """The first line of a parser's message, short; a binary file's bytes are summarized, never echoed."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "\ufffd" in first or not first.isprintable():
        return BINARY_REASON
    return first if len(first) <= 120 else first[:117] + "..."


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


def no_label_guess_words(frame: pd.DataFrame) -> Optional[str]:
    """Why ``guess_label_columns`` chose nothing in ``frame``, and what to do, in one line (None when it chose some):
    label columns are guessed from the end of the table, so the last column's problem as a label."""
    if guess_label_columns(frame) or len(frame.columns) == 0:
        return None
    last = frame.columns[-1]
    try:
        _label_column(frame[last], str(last), "")
    except MultilabelError as exc:  # "label column 'y' has the value 2 at row 4; labels must be 0 or 1 (...)"
        why = str(exc).split(";")[0].removeprefix("label column ").replace(" has ", ", has ", 1)
        return ("No label columns were chosen for you: they are guessed as the 0/1 columns at the end of the file, "
                f"and its last column, {why}. Choose the label columns above.")
    return "No label columns were chosen for you: the file has one column, which would leave no feature to learn from."


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
    # The file's name without its folder: the same file trained from the command line (a path) and from the pages
    # (an upload) is one dataset on the Runs page.
    return Dataset(X=X, Y=Y, feature_names=feature_names, label_names=label_names,
                   description={"source": "csv", "name": os.path.basename(name.strip("'")), "rows": len(frame),
                                "features": len(feature_names), "labels": label_names},
                   warnings=label_warnings(Y, label_names, name))


def stored_description(data: Dataset) -> dict[str, Any]:
    """What a run stores of its data: its description, with a table's rows' fingerprint (``rows_fingerprint``, by
    which Predict tells the run's own rows under any file name). Computed here, once per run: the Train page builds
    the dataset at every rerun to check it, and the fingerprint costs about 0.5 s per million rows."""
    if data.description.get("source") != "csv" or "fingerprint" in data.description:
        return data.description
    return {**data.description, "fingerprint": rows_fingerprint(data.X, data.Y)}


FINGERPRINT_CHUNK_ROWS = 65536  # rows hashed at a time: memory stays at a few MB whatever the table's size


def rows_fingerprint(X: np.ndarray, Y: np.ndarray) -> str:
    """A short fingerprint of a table's rows, whatever their order: the same rows (features ``X`` and labels ``Y``,
    as float32) give the same 24 hex digits from any file, under any name, in any order; another value, row or
    column gives others.

    Each row is hashed (its 32-bit words times fixed odd constants, summed mod 2**64: one vectorized pass), the
    row hashes are sorted and hashed together with blake2b. Cheap next to reading the file.
    """
    X, Y = np.asarray(X, dtype=np.float32), np.asarray(Y, dtype=np.float32)
    width = X.shape[1] + Y.shape[1]
    # One odd 64-bit constant per column, from blake2b (not numpy's RNG, whose streams may change between versions:
    # a stored fingerprint must match the same rows years later).
    odd = np.array([int.from_bytes(hashlib.blake2b(j.to_bytes(4, "little"), digest_size=8).digest(), "little") | 1
                    for j in range(width)], dtype=np.uint64)
    rows = np.empty(len(X), dtype=np.uint64)
    for start in range(0, len(X), FINGERPRINT_CHUNK_ROWS):
        stop = start + FINGERPRINT_CHUNK_ROWS
        words = np.ascontiguousarray(np.hstack([X[start:stop], Y[start:stop]])).view(np.uint32).astype(np.uint64)
        rows[start:stop] = (words * odd).sum(axis=1, dtype=np.uint64)  # uint64 arithmetic wraps: mod 2**64
    digest = hashlib.blake2b(f"{X.shape[1]},{Y.shape[1]}".encode(), digest_size=12)
    digest.update(np.sort(rows).tobytes())
    return digest.hexdigest()


def label_warnings(Y: np.ndarray, label_names: Sequence[str], name: str = "the CSV") -> list[str]:
    """One line per label column that holds a single value in every row: nothing to learn, F1 meaningless.

    ``Y``: (n, num_labels) of 0/1. One row says nothing of the kind (every column is one value there), and training
    refuses it anyway: six such lines stood above the one that mattered.
    """
    out = []
    for j, label in enumerate(label_names):
        column = Y[:, j]
        if len(column) > 1 and (column == column[0]).all():
            value = int(column[0])
            out.append(f"label column {label!r} in {name} is {value} in every row: the model can only learn to "
                       f"answer {value} for it, and its F1 means nothing; check that it is the right column")
    return out


def load_csv(source: CsvSource, labels: str | Sequence[str], name: str | None = None) -> Dataset:
    """Read a CSV (or Parquet file) and choose its label columns (see ``match_labels``); other columns are numeric
    features."""
    label = name or source_name(source)
    data = dataset_from_frame(read_csv(source, label), labels, label)
    if isinstance(source, (str, os.PathLike)):  # named by its file name, as an upload is; the whole path kept too
        data.description["path"] = os.path.abspath(os.fspath(source))
    return data


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
                cell = series.iloc[row]
                fix = ("write numbers with a decimal point (1.5, not 1,5)" if isinstance(cell, str)
                       and re.fullmatch(r"\s*[-+]?\d+,\d+\s*", cell) else "remove the column or make it numeric")
                raise MultilabelError(f"feature column {col!r} in {name} is not numeric (row {row + row_offset + 2}: "
                                      f"{cell!r}); {fix}")
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
