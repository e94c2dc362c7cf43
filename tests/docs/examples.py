"""The shell and Python examples of the docs, as a reader would copy them.

A fenced block opened with ```` ```sh ```` or ```` ```python ```` is an example. An example that
cannot run in a test says so on the line before its fence, with the reason:
``<!-- no-test: starts a long-running server -->``. Every other example must run. A read whose
answer appears a moment later (events are stored asynchronously) says
``<!-- test-retry: reason -->``: it is run again until it succeeds, for up to 20 seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The documents whose examples run.
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "sdk" / "python" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
LANGUAGES = ("sh", "python")

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<kind>no-test|test-retry):\s*(?P<reason>\S.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Example:
    """One fenced block: where it is, its language, its code, why it is skipped (if it is) and
    why it may need retries (if it does)."""

    path: Path
    line: int  # the fence's line, 1-based
    language: str
    code: str
    skip: str | None
    retry: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def examples(path: Path) -> list[Example]:
    """The ``sh`` and ``python`` blocks of a Markdown file, in order."""
    lines = path.read_text().splitlines()
    found: list[Example] = []
    i = 0
    while i < len(lines):
        opened = _FENCE.match(lines[i])
        if opened is None:
            i += 1
            continue
        indent, language = opened.group(1), opened.group(2)
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if language in LANGUAGES:
            previous = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
            marker = _MARKER.match(previous)
            kind = marker.group("kind") if marker else None
            body = [ln.removeprefix(indent) for ln in lines[i + 1 : end]]
            found.append(
                Example(
                    path=path,
                    line=i + 1,
                    language=language,
                    code="\n".join(body) + "\n",
                    skip=marker.group("reason") if marker and kind == "no-test" else None,
                    retry=marker.group("reason") if marker and kind == "test-retry" else None,
                )
            )
        i = end + 1
    return found


def substitute(code: str, values: dict[str, str]) -> str:
    """Replace the docs' placeholders (``phc_...``, ``http://127.0.0.1:8000``...) by ``values``."""
    for placeholder in sorted(values, key=len, reverse=True):
        code = code.replace(placeholder, values[placeholder])
    return code
