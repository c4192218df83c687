"""Predictions as tables: DataFrame in, DataFrame out; CSV and Parquet files streamed in chunks so memory stays
bounded."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import IO, Any, Iterator, Optional, Sequence, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import torch

from .checkpoint import TrainedModel
from .config import DEFAULT_CHUNK_ROWS
from .data import PARQUET_SUFFIXES, error_reason, features_array, is_parquet, open_csv, open_parquet, source_name
from .errors import MultilabelError
from .paths import atomic_path, check_output_file
from .words import count

PROB_SUFFIX = "_prob"


@dataclass
class FeaturePlan:
    """How a table's columns map onto the model's inputs: feature columns in model order, the rest passed through."""

    features: list[str]
    passthrough: list[str]
    by_position: bool = False
    notes: list[str] = field(default_factory=list)


LEFT_OUT = "left out of the result"  # the note's words that predictview.notes_to_show looks for


def left_out_note(replaced: Sequence[str], name: str) -> str:
    """The note that columns of ``name`` named like the result's were left out of it: 'column 'a' of the CSV was
    left out of the result: the predictions use that name', or 'columns ... were ...: ... those names'."""
    one = len(replaced) == 1
    return (f"{'column' if one else 'columns'} {', '.join(map(repr, replaced))} of {name} "
            f"{'was' if one else 'were'} {LEFT_OUT}: the predictions use {'that name' if one else 'those names'}")


def plan_columns(trained: TrainedModel, columns: Sequence[str], numeric: Sequence[str] | None = None,
                 name: str = "the CSV") -> FeaturePlan:
    """Match columns to the model's features by name; fall back to position when no name matches at all but the
    count of numeric columns equals the input size. ``numeric``: the numeric columns (for the fallback)."""
    columns = [str(c) for c in columns]
    wanted = trained.feature_names
    have = set(columns)
    # A column named like an output column (a true label, an old '<label>_prob') would appear twice in the result.
    outputs = set(trained.label_names) | {label + PROB_SUFFIX for label in trained.label_names}
    replaced = [c for c in columns if c in outputs]
    notes = [left_out_note(replaced, name)] if replaced else []
    missing = [f for f in wanted if f not in have]
    if not missing:
        chosen = set(wanted) | outputs
        return FeaturePlan(list(wanted), [c for c in columns if c not in chosen], notes=notes)
    numeric = [c for c in (numeric if numeric is not None else columns)
               if c not in outputs and c + PROB_SUFFIX not in have]
    if len(missing) == len(wanted) and len(numeric) == len(wanted):
        chosen = set(numeric) | outputs
        return FeaturePlan(list(numeric), [c for c in columns if c not in chosen], by_position=True,
                           notes=[f"no column of {name} has a feature name the model knows; its {len(numeric)} "
                                  "numeric columns were used in order as the model's features", *notes])
    shown = ", ".join(repr(m) for m in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    raise MultilabelError(f"{name} lacks {count(len(missing), 'feature column')} the model needs: {shown}; "
                          f"add them (the model was trained on {count(len(wanted), 'feature')})")


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].dtype != bool]


def check_thresholds(trained: TrainedModel, thresholds: Optional[Sequence[float]]) -> np.ndarray:
    cut = np.asarray(trained.thresholds if thresholds is None else thresholds, dtype=np.float32)
    if cut.shape != (len(trained.label_names),) or not ((cut >= 0) & (cut <= 1)).all():
        raise MultilabelError(f"give one threshold in [0, 1] per label ({len(trained.label_names)}), got {list(cut)}")
    return cut


def output_columns(label_names: Sequence[str], probs: np.ndarray, cut: np.ndarray) -> dict[str, np.ndarray]:
    """The result columns, in order: ``<label>_prob`` (float32 probability) for every label, then ``<label>``
    (int8 0/1: probability >= the label's threshold). ``probs``: (n, num_labels); ``cut``: (num_labels,).

    The one place these columns are built: ``label_frame`` (tables, the Predict page) and ``predict_csv`` (files).
    """
    cols: dict[str, np.ndarray] = {label + PROB_SUFFIX: probs[:, j] for j, label in enumerate(label_names)}
    cols.update({label: (probs[:, j] >= cut[j]).astype(np.int8) for j, label in enumerate(label_names)})
    return cols


def label_frame(trained: TrainedModel, probs: np.ndarray, thresholds: Optional[Sequence[float]] = None,
                index: Any = None) -> pd.DataFrame:
    """``<label>_prob`` and ``<label>`` (0/1 at each label's threshold) columns from (n, num_labels) probabilities."""
    return pd.DataFrame(output_columns(trained.label_names, probs, check_thresholds(trained, thresholds)),
                        index=index)


def predict_frame(trained: TrainedModel, frame: pd.DataFrame, thresholds: Optional[Sequence[float]] = None,
                  name: str = "the CSV") -> tuple[pd.DataFrame, FeaturePlan]:
    """Score a table. Returns (passthrough columns + probability and 0/1 columns per label, the column plan)."""
    frame = frame.rename(columns=str)
    plan = plan_columns(trained, list(frame.columns), _numeric_columns(frame), name)
    probs = trained.predict_proba(features_array(frame, plan.features, name))
    labels = label_frame(trained, probs, thresholds, index=frame.index)
    return pd.concat([frame[plan.passthrough], labels], axis=1), plan


def predict_csv(trained: TrainedModel, source: Union[str, os.PathLike, IO[bytes]], out: Union[str, os.PathLike],
                thresholds: Optional[Sequence[float]] = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                name: str | None = None) -> dict[str, Any]:
    """Stream a CSV or Parquet file (see ``data.is_parquet``) through the model: a CSV parsed in
    data.CSV_BLOCK_BYTES blocks, a Parquet file read by row groups; score and write about ``chunk_rows`` rows at a
    time, as CSV, or as Parquet (one row group per chunk) when ``out`` ends in .parquet.

    Memory is bounded by the chunk and the parser's read-ahead (a Parquet row group), not the file. Returns {"rows",
    "out", "notes"}. The output is written to a temporary file and renamed at the end, so a failure never leaves half
    a result at ``out``.
    """
    label = name or source_name(source)
    cut = check_thresholds(trained, thresholds)
    out = check_output_file(out, "the output file")
    rows, writer = 0, None
    from_parquet = is_parquet(source, label)
    if from_parquet:
        parquet = open_parquet(source, label)
        schema = parquet.schema_arrow
        numeric = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
        plan = plan_columns(trained, schema.names, numeric, label)
        reader: Any = _parquet_batches(parquet, chunk_rows, label)
    else:
        reader = open_csv(source, label)
        numeric = [f.name for f in reader.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
        plan = plan_columns(trained, reader.names, numeric, label)
        if isinstance(source, (str, os.PathLike)):
            # Read again, parsing the numeric features straight to float32: faster than float64 and no cast later.
            reader = open_csv(source, label, {c: pa.float32() for c in plan.features if c in set(numeric)})
    make_writer = _parquet_writer if out.suffix.lower() in PARQUET_SUFFIXES else pacsv.CSVWriter
    threads = torch.get_num_threads()
    if trained.device.type == "cpu":
        # pyarrow parses ahead on its own threads and keeps the cores busy; torch's threads would only fight them
        # (numbers: benchmarks/README.md, "Measurements moved out of code comments").
        torch.set_num_threads(1)
    try:
        # A temporary file renamed at the end: a failure (a bad cell, a full disk: one line) leaves nothing at out.
        with atomic_path(out) as tmp:
            try:
                for batch in _chunks(iter(reader), chunk_rows):
                    X = _batch_features(batch, plan.features, label, rows)
                    probs = trained.predict_proba(X)
                    outputs = output_columns(trained.label_names, probs, cut)
                    arrays = [*(batch.column(c) for c in plan.passthrough), *map(pa.array, outputs.values())]
                    table = pa.Table.from_arrays(arrays, names=[*plan.passthrough, *outputs])
                    if writer is None:
                        writer = make_writer(str(tmp), table.schema)
                    writer.write_table(table)
                    rows += batch.num_rows
                if writer is None:
                    raise MultilabelError(f"{label} has {'columns' if from_parquet else 'a header'} but no data "
                                          "rows; add at least one row")
            finally:
                if writer is not None:  # closed before the file is renamed or removed
                    writer.close()
    finally:
        torch.set_num_threads(threads)
    return {"rows": rows, "out": str(out), "notes": plan.notes}


def _parquet_batches(parquet: Any, chunk_rows: int, label: str) -> Iterator[pa.RecordBatch]:
    """A Parquet file's rows in batches of at most ``chunk_rows``, read row group by row group (pyarrow decodes one
    group at a time), so memory follows the row group, not the file. A damaged page further down: one line."""
    try:
        yield from parquet.iter_batches(batch_size=chunk_rows)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid / ArrowIOError
        raise MultilabelError(f"{label} is not a readable Parquet file further down ({error_reason(exc)}); save it "
                              "again with pandas' DataFrame.to_parquet") from None


def _parquet_writer(path: str, schema: pa.Schema) -> Any:
    import pyarrow.parquet as pq

    return pq.ParquetWriter(path, schema)


def _chunks(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Tables of at least ``chunk_rows`` rows (the last one may be shorter), built from consecutive batches."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= chunk_rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _batch_features(batch: pa.Table, features: Sequence[str], label: str, row_offset: int) -> np.ndarray:
    # Filled one feature per row (contiguous writes), handed on transposed: a strided view, no second copy.
    X_t = np.empty((len(features), batch.num_rows), dtype=np.float32)
    for j, c in enumerate(features):
        col = batch.column(c)
        if (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)) and col.null_count == 0:
            with np.errstate(over="ignore"):  # a value beyond float32 becomes inf: caught just below
                X_t[j] = col.to_numpy(zero_copy_only=False)
            continue
        # Slow path for anything unusual: pandas-based checks name the bad cell.
        return features_array(batch.select(list(features)).to_pandas(), features, label, row_offset)
    X = X_t.T
    if not np.isfinite(X_t).all():
        return features_array(batch.select(list(features)).to_pandas(), features, label, row_offset)
    return X
