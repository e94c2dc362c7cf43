from __future__ import annotations

from pathlib import Path

import pytest

from tests.experiments.oracle.venv import ensure_venv

# How many cases each oracle test compared, reported at the end of the run.
COMPARED: dict[str, int] = {}


@pytest.fixture(scope="session")
def gbstats_python() -> Path:
    """The interpreter of the venv holding gbstats 0.8.0 (built on first use)."""
    return ensure_venv()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if COMPARED:
        parts = ", ".join(f"{n} {what}" for what, n in COMPARED.items())
        total = sum(COMPARED.values())
        terminalreporter.write_line(f"gbstats oracle: {total} cases compared ({parts})")
