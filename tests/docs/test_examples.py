"""Every shell and Python example of README.md, sdk/python/README.md and docs/*.md runs, in the
order a reader meets it, against a live platform and a fresh project per document.

The docs' placeholders are replaced by the test's own: ``http://127.0.0.1:8000`` (and
``localhost:8000``) by the server's URL, ``phc_...`` by the project's token, ``phs_...`` by its
secret key; the shell also gets ``DF_URL``, ``DF_TOKEN`` and ``DF_SECRET``. Shell blocks of one
document share their variables (as in one terminal), and ``curl`` fails on an HTTP error status
(``--fail-with-body``), so an example that gets a 4xx fails here. Python blocks of one document
share one namespace. Both run in a scratch directory holding ``.devflow/runtime.json`` for the
test's platform, as ``make run`` leaves one. A block marked ``<!-- no-test: reason -->`` is
skipped (tests/docs/examples.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.docs.examples import DOCUMENTS, ROOT, Example, examples, substitute
from tests.support import Server, Stack

# Runs every shell block: the block's new variables are kept for the next block of the same
# document.
_SHELL = r"""
[ -f "$__STATE" ] && source "$__STATE"
__before=" $(compgen -v | tr '\n' ' ') "
trap 'echo "$__WHERE:$LINENO: exit status $?" >&2' ERR
set -eE -o pipefail
source "$__BLOCK"
set +eE
trap - ERR
for __v in $(compgen -v); do
  case "$__v" in __*) continue ;; esac
  case "$__before" in *" $__v "*) ;; *) declare -p "$__v" >> "$__STATE" ;; esac
done
"""


def _placeholders(server: Server, project: Any, tmp: Path) -> dict[str, str]:
    return {
        "http://127.0.0.1:8000": server.url,
        "http://localhost:8000": server.url,
        "phc_...": project.token,
        "phc_…": project.token,
        "phs_...": project.secret_key,
        "phs_…": project.secret_key,
        # Directories an application would own.
        "/var/cache/myapp": str(tmp / "cache"),
        "/var/lib/myapp": str(tmp / "lib"),
    }


def _workdir(tmp: Path, stack: Stack, server: Server) -> Path:
    work = tmp / "work"
    (work / ".devflow").mkdir(parents=True)
    # curl first on PATH: an HTTP error status fails the example (a script, not a shell
    # function, so that the failure points at the block's line).
    (work / ".bin").mkdir()
    curl = work / ".bin" / "curl"
    curl.write_text(f'#!/bin/sh\nexec {shutil.which("curl")} --fail-with-body "$@"\n')
    curl.chmod(0o755)
    runtime = {
        "pid": os.getpid(),
        "database_url": stack.database_url,
        "nats_url": stack.nats_url,
        "http_url": server.url,
    }
    (work / ".devflow" / "runtime.json").write_text(json.dumps(runtime))
    (work / ".venv").symlink_to(ROOT / ".venv")
    return work


def _run_shell(example: Example, code: str, work: Path, env: dict[str, str]) -> None:
    __tracebackhide__ = True  # the failure message says everything; not the environment
    if example.retry is None:
        _shell_once(example, code, work, env)
        return
    deadline = time.monotonic() + 20
    while True:
        try:
            _shell_once(example, code, work, env)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _shell_once(example: Example, code: str, work: Path, env: dict[str, str]) -> None:
    __tracebackhide__ = True
    block = work / ".block.sh"
    # Padded so that $LINENO is the line in the document.
    block.write_text("\n" * example.line + code)
    result = subprocess.run(
        ["bash", "-c", _SHELL],
        cwd=work,
        env={
            **env,
            "__STATE": str(work / ".state.sh"),
            "__BLOCK": str(block),
            "__WHERE": str(example.path.relative_to(ROOT)),
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, (
        f"{example.where} failed (exit {result.returncode})\n--- stdout\n{result.stdout[-3000:]}"
        f"\n--- stderr\n{result.stderr[-3000:]}"
    )


def _run_python(example: Example, code: str, namespace: dict[str, Any]) -> None:
    # Padded so that a traceback names the line in the document.
    compiled = compile("\n" * example.line + code, str(example.path.relative_to(ROOT)), "exec")
    exec(compiled, namespace)


def _close(namespace: dict[str, Any]) -> None:
    from devflow_sdk import Client, FlagsManager

    for value in namespace.values():
        if isinstance(value, Client | FlagsManager):
            value.shutdown()
    if "openfeature" in sys.modules:
        from openfeature import api

        api.clear_providers()


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_examples_of_a_document_run(
    document: Path,
    server: Server,
    stack: Stack,
    project: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = examples(document)
    values = _placeholders(server, project, tmp_path)
    work = _workdir(tmp_path, stack, server)
    env = {
        **os.environ,
        "PATH": os.pathsep.join(
            [str(work / ".bin"), str(ROOT / ".venv" / "bin"), os.environ["PATH"]]
        ),
        "DF_URL": server.url,
        "DF_TOKEN": project.token,
        "DF_SECRET": project.secret_key,
    }
    monkeypatch.chdir(work)
    namespace: dict[str, Any] = {"__name__": "__doc_example__"}
    try:
        for example in found:
            if example.skip is not None:
                continue
            code = substitute(example.code, values)
            if example.language == "sh":
                _run_shell(example, code, work, env)
            else:
                _run_python(example, code, namespace)
    finally:
        _close(namespace)


def test_every_skipped_example_gives_a_reason() -> None:
    # The marker's pattern requires a reason; this lists what is skipped, for review.
    skipped = [e for doc in DOCUMENTS for e in examples(doc) if e.skip is not None]
    assert all(e.skip.strip() for e in skipped if e.skip is not None)
    ran = [e for doc in DOCUMENTS for e in examples(doc) if e.skip is None]
    assert len(ran) > len(skipped)


def test_the_extractor_reads_markers_and_indented_blocks(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n\n<!-- no-test: a server -->\n```sh\nmake run\n```\n\n"
        "- item\n\n  ```python\n  print(1)\n  ```\n\n```json\n{}\n```\n"
        "<!-- test-retry: stored later -->\n```sh\ncurl x\n```\n"
    )
    found = examples(doc)
    assert [(e.language, e.line, e.code, e.skip, e.retry) for e in found] == [
        ("sh", 4, "make run\n", "a server", None),
        ("python", 10, "print(1)\n", None, None),
        ("sh", 18, "curl x\n", None, "stored later"),
    ]
