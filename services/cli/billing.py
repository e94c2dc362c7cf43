"""``devflow billing sync``: run a running platform's backfill from Stripe and print its
progress as it streams (one JSON line per page listed)."""

from __future__ import annotations

import urllib.error
import urllib.request

import msgspec

from services.core.errors import StartupError


def sync(url: str, secret_key: str, project_name: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's platform
        f"{url}/api/billing/sync",
        method="POST",
        headers={"Authorization": f"Bearer {secret_key}"},
    )
    try:
        response = urllib.request.urlopen(request)  # noqa: S310 - as above
    except urllib.error.HTTPError as exc:
        raise StartupError(f"sync refused ({exc.code}): {exc.read().decode()}") from None
    except urllib.error.URLError as exc:
        raise StartupError(f"cannot reach {url}: {exc.reason}") from None
    with response:
        for line in response:
            progress = msgspec.json.decode(line) if line.strip() else {}
            if "error" in progress:
                raise StartupError(f"sync stopped: {progress['error']} (run it again to resume)")
            if progress.get("done"):
                counts = ", ".join(f"{v} {k}" for k, v in progress.items() if k != "done")
                print(f"synced {counts or 'nothing'} into project {project_name!r}")
            elif progress:
                print(f"  {progress['kind']:<13} {progress['synced']:>7} ({progress['new']} new)")
