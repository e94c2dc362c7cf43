"""``devflow churn evaluate`` end to end through the CLI process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support import DEVFLOW

DATA = Path(__file__).parent / "data" / "accounts.csv"


def devflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEVFLOW, "churn", "evaluate", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("extra", [[], ["--time", "signup"]])
def test_prints_holdout_metrics(extra: list[str]) -> None:
    res = devflow("--table", str(DATA), "--label", "churned", "--id", "account_id", *extra)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["n_train"] == 300
    assert out["n_test"] == 100
    # The planted effect (logins, tickets, plan) is found by the model and the baseline.
    assert out["roc_auc"] > 0.6
    assert out["baseline_roc_auc"] > 0.6
    assert 0.0 < out["pr_auc"] <= 1.0
    assert 0.0 <= out["brier"] < 0.25


def test_same_input_same_output() -> None:
    args = ("--table", str(DATA), "--label", "churned", "--id", "account_id")
    assert devflow(*args).stdout == devflow(*args).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "missing.csv", "--label", "churned"], "no such file"),
        (["--label", "nope"], "no column 'nope'"),
        (["--label", "plan"], "is not yes/no"),
        (["--label", "churned", "--time", "plan"], "column 'plan'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    if "--table" not in args:
        args = ["--table", str(DATA), *args]
    res = devflow(*args)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith("devflow: error:")
    assert message in res.stderr


def test_a_file_that_is_not_utf8_csv_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("plan,churned\ncaf\xe9,yes\n".encode("latin-1"))
    res = devflow("--table", str(path), "--label", "churned")
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1
    assert "not a UTF-8 CSV file" in res.stderr


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path: Path) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pyarrow is installed")
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    res = devflow("--table", str(path), "--label", "churned")
    assert res.returncode == 2
    assert "pyarrow" in res.stderr
