"""CPU time per component (API, writer, PostgreSQL, NATS, the load client), read from ``/proc``.

With two cores shared by everything, "who used the CPU during the run" says more about the
bottleneck than any single throughput figure. Linux only; elsewhere the figures are empty.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
CLIENT = "client"
# PostgreSQL forks a backend per connection; its CPU is charged to the postmaster's children.
WITH_CHILDREN = frozenset({"postgres"})


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system seconds) of a process, or None once it has gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; fields resume after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def sample(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process (and, for PostgreSQL, its backends)."""
    if not Path("/proc/self/stat").exists():
        return {}
    out: dict[str, float] = {}
    parents = {pid: name for name, pid in pids.items() if name in WITH_CHILDREN}
    for name, pid in pids.items():
        stat = _stat(pid)
        if stat is not None:
            out[name] = stat[1]
    if parents:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] in parents:
                name = parents[stat[0]]
                out[name] = out.get(name, 0.0) + stat[1]
    times = os.times()
    out[CLIENT] = times.user + times.system
    return out


def cores_used(
    before: dict[str, float], after: dict[str, float], wall_s: float
) -> dict[str, float]:
    """Average number of cores each component kept busy between two samples."""
    if wall_s <= 0:
        return {}
    return {k: round((after[k] - before.get(k, 0.0)) / wall_s, 2) for k in after}
