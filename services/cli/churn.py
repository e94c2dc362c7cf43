"""``devflow churn evaluate``: fit the churn pipeline to any labelled table and print its
holdout metrics as one JSON object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.churn import table


def add_parser(sub: Any) -> None:
    """``devflow churn evaluate`` under the CLI's commands."""
    parser = sub.add_parser("churn", help="the churn model")
    actions = parser.add_subparsers(required=True, metavar="ACTION")
    ev = actions.add_parser(
        "evaluate", help="fit the churn pipeline to a labelled CSV and print holdout metrics"
    )
    ev.add_argument("--table", required=True, help="CSV (or Parquet with pyarrow) file")
    ev.add_argument("--label", required=True, help="label column: yes/no, true/false or 1/0")
    ev.add_argument("--id", default=None, help="id column, left out of the features")
    ev.add_argument("--time", default=None, help="ISO time column: test on the latest 25 %%")
    ev.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: Any) -> int:
    """Read, split, fit and print the metrics (errors are one line, exit 2, via the CLI)."""
    header, rows = table.read_rows(Path(args.table))
    parsed = table.parse(header, rows, args.label, args.id, args.time)
    print(json.dumps(table.evaluate(parsed), sort_keys=True))
    return 0
