"""A labelled table for ``devflow churn evaluate``: read from CSV (or Parquet when pyarrow is
installed), columns typed, labels parsed, split, and the model pipeline fitted and scored."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.model_selection import train_test_split

from services.churn import model
from services.churn.errors import InvalidTable

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

_YES = {"yes", "true", "1", "y", "t"}
_NO = {"no", "false", "0", "n", "f"}
_MISSING = {"", "na", "n/a", "nan", "null", "none"}
HOLDOUT = 0.25


@dataclass(frozen=True, slots=True)
class Table:
    """Feature columns as an object array (numbers as float, NaN missing; strings, None
    missing), which columns are numeric and categorical, labels, and times if given."""

    x: NDArray[Any]
    numeric: list[int]
    categorical: list[int]
    y: NDArray[np.int_]
    times: list[datetime] | None


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV or Parquet file, every cell as text."""
    if not path.is_file():
        raise InvalidTable(f"{path}: no such file")
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InvalidTable("Parquet needs pyarrow, which is not installed; use CSV") from None
        try:
            data = pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises many types for a bad file
            raise InvalidTable(f"{path}: not a readable Parquet file ({exc})") from None
        header = list(data[0]) if data else []
        return header, [["" if r[h] is None else str(r[h]) for h in header] for r in data]
    try:
        # utf-8-sig: spreadsheets often start a CSV with a byte-order mark.
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidTable(f"{path}: not a UTF-8 CSV file ({exc})") from None
    if not rows:
        raise InvalidTable(f"{path}: empty file")
    return rows[0], rows[1:]


def _number(cell: str) -> float | None:
    try:
        v = float(cell)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _label(cell: str, row: int) -> int:
    v = cell.strip().lower()
    if v in _YES:
        return 1
    if v in _NO:
        return 0
    raise InvalidTable(f"row {row}: label {cell!r} is not yes/no, true/false or 1/0")


def parse(
    header: list[str], rows: list[list[str]], label: str, id_col: str | None, time_col: str | None
) -> Table:
    """The table's features, labels and times; the id column is left out of the features."""
    for name in (label, id_col, time_col):
        if name is not None and name not in header:
            raise InvalidTable(f"no column {name!r}; columns: {', '.join(header)}")
    if len(set(header)) != len(header):
        raise InvalidTable("the header repeats a column name")
    for i, r in enumerate(rows, start=2):
        if len(r) != len(header):
            raise InvalidTable(f"row {i}: {len(r)} cells, the header has {len(header)}")
    col = {h: i for i, h in enumerate(header)}
    y = np.array([_label(r[col[label]], i) for i, r in enumerate(rows, start=2)], dtype=np.int_)
    times = None
    if time_col is not None:
        try:
            times = [datetime.fromisoformat(r[col[time_col]]) for r in rows]
        except ValueError as exc:
            raise InvalidTable(f"column {time_col!r}: {exc}") from None
    features = [h for h in header if h not in {label, id_col, time_col}]
    if not features:
        raise InvalidTable("no feature columns besides the label, id and time")
    x = np.empty((len(rows), len(features)), dtype=object)
    numeric, categorical = [], []
    for j, h in enumerate(features):
        cells = [r[col[h]].strip() for r in rows]
        present = [c for c in cells if c.lower() not in _MISSING]
        # A column is numeric when every present cell parses as a finite number.
        if present and all(_number(c) is not None for c in present):
            numeric.append(j)
            x[:, j] = [float("nan") if c.lower() in _MISSING else float(c) for c in cells]
        else:
            categorical.append(j)
            x[:, j] = [None if c.lower() in _MISSING else c for c in cells]
    return Table(x=x, numeric=numeric, categorical=categorical, y=y, times=times)


def split(table: Table) -> tuple[NDArray[np.int_], NDArray[np.int_]]:
    """Train and test row indices: the latest 25 % by time when times are given, else a
    stratified 25 % holdout with a fixed seed."""
    n = len(table.y)
    if table.times is not None:
        order = sorted(range(n), key=lambda i: table.times[i])  # type: ignore[index]
        cut = n - max(1, round(n * HOLDOUT))
        return np.array(order[:cut], dtype=np.int_), np.array(order[cut:], dtype=np.int_)
    train, test = train_test_split(
        np.arange(n), test_size=HOLDOUT, stratify=table.y, random_state=model.SEED
    )
    return np.asarray(train, dtype=np.int_), np.asarray(test, dtype=np.int_)


def evaluate(table: Table) -> dict[str, float | int]:
    """Fit the model pipeline on the train rows and score the holdout: ROC AUC, PR AUC, Brier
    and lift of the model, ROC AUC of the baseline, and the split's sizes."""
    counts = np.bincount(table.y, minlength=2)
    if min(counts) < 4:
        raise InvalidTable(
            f"need at least 4 rows of each label; have {counts[1]} yes, {counts[0]} no"
        )
    train, test = split(table)
    if len(set(table.y[test].tolist())) < 2 or len(set(table.y[train].tolist())) < 2:
        raise InvalidTable("the train or test split holds only one label")
    x, y = table.x, table.y
    fitted = model.fit(model.build(table.numeric, table.categorical), x[train], y[train])
    m = model.evaluate(y[test], model.scores(fitted, x[test]))
    base = model.build(table.numeric, table.categorical, "baseline")
    b = model.evaluate(y[test], model.scores(model.fit(base, x[train], y[train]), x[test]))
    return {
        "roc_auc": m.roc_auc,
        "pr_auc": m.pr_auc,
        "brier": m.brier,
        "lift_top_decile": m.lift_top_decile,
        "baseline_roc_auc": b.roc_auc,
        "n_train": len(train),
        "n_test": len(test),
    }
