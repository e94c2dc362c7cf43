"""The committed lock files cover what the pyproject files ask for (else run `make lock`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)", re.MULTILINE)


def pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    return {canonicalize_name(m[1]): m[2] for m in PIN.finditer(text)}


def wanted() -> list[Requirement]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    sdk = tomllib.loads((ROOT / "sdk/python/pyproject.toml").read_text())["project"]
    specs = [*root["dependencies"], *root["optional-dependencies"]["dev"], *sdk["dependencies"]]
    return [Requirement(spec) for spec in specs]


def test_every_dependency_is_pinned_within_its_bounds() -> None:
    locked = pins("requirements.lock")
    wrong = []
    for req in wanted():
        version = locked.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{req} (locked: {version})")
    assert wrong == [], "run `make lock`"


def test_every_pin_has_a_hash() -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements.lock").read_text())
    unhashed = [b.split()[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
    assert unhashed == []


def test_the_image_lock_is_a_subset_at_the_same_versions() -> None:
    full, image = pins("requirements.lock"), pins("requirements-image.lock")
    assert image, "requirements-image.lock is empty"
    assert {name: full.get(name) for name in image} == image
    assert "pytest" not in image
