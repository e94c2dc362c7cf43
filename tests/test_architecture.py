"""Architecture and code-quality gates: import contracts, ruff, mypy --strict, SDK isolation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_services_do_not_import_each_other() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(linter), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_sdk_is_importable_alone() -> None:
    # The SDK distribution must not depend on the platform's packages.
    code = "import sys, devflow_sdk; assert not any(m.startswith('services') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT / "sdk" / "python")


def _tool(name: str, *args: str, cwd: Path = ROOT) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_lint_and_format_are_clean() -> None:
    _tool("ruff", "check", ".")
    _tool("ruff", "format", "--check", ".")


def test_mypy_strict_on_services_schemas_and_sdk() -> None:
    _tool("mypy", "--strict", "services", "schemas")
    _tool("mypy", "--strict", "devflow_sdk", cwd=ROOT / "sdk" / "python")
