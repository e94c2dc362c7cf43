"""A client process for tests that kill, restart or exit processes (run with ``python -m``).

    python -m tests.sdk.client.child <mode> <host> <token> <run> <n> [spool_dir]

Modes:
- ``exit``: capture ``n`` events and return from main without flush or shutdown (atexit must
  send them).
- ``flush``: capture ``n`` events, flush, shut down, print the stats as JSON.
- ``spool-and-hang``: capture ``n`` events, wait until all are on disk (or sent), print
  ``READY``, then sleep until killed.
- ``drain``: capture ``n`` events, flush until nothing is left (the spool included), shut down,
  print the stats as JSON.
"""

from __future__ import annotations

import sys
import time

import msgspec
from devflow_sdk import Client


def main() -> None:
    mode, host, token, run, n, *rest = sys.argv[1:]
    spool_dir = rest[0] if rest else None
    client = Client(
        token,
        host=host,
        spool_dir=spool_dir,
        flush_interval=60.0 if mode == "exit" else 0.05,
        max_backoff=0.5,
        shutdown_timeout=30.0,
    )
    for i in range(int(n)):
        client.capture(run, "child", {"i": i, "run": run})
    if mode == "exit":
        return
    if mode == "spool-and-hang":
        while client.stats.spooled + client.stats.sent < int(n):
            time.sleep(0.01)
        print("READY", flush=True)
        time.sleep(3600)
    if mode == "drain":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stats = client.stats
            if client.flush(5) and stats.spooled == 0 and client.stats.spooled == 0:
                break
    else:
        client.flush(30)
    client.shutdown()
    print(msgspec.json.encode(client.stats).decode(), flush=True)


if __name__ == "__main__":
    main()
