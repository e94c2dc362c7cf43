"""The SDK's public surface, pinned (``tests/sdk/public_api_snapshot.txt``).

Every name in ``devflow_sdk.__all__`` and ``devflow_sdk.errors.__all__``, with the signature of
every public function, method and property, and the keys of the ``TypedDict`` s (the flag reads'
keywords). A change here is a change to what users import:
review the diff, then regenerate with
``DEVFLOW_UPDATE_API_SNAPSHOT=1 pytest tests/sdk/test_public_api.py``.
(``devflow_sdk.flags``, the evaluation engine shared with the server, is not part of it.)
"""

from __future__ import annotations

import inspect
import os
import typing
from pathlib import Path
from typing import Any

import devflow_sdk
import devflow_sdk.errors
import msgspec

SNAPSHOT = Path(__file__).with_name("public_api_snapshot.txt")


def _annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return ""
    return value if isinstance(value, str) else inspect.formatannotation(value)


def _signature(func: Any) -> str:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return "(...)"
    params = []
    star_done = False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star_done:
            params.append("*")
            star_done = True
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        text = prefix + p.name
        if (ann := _annotation(p.annotation)) != "":
            text += f": {ann}"
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        params.append(text)
    out = f"({', '.join(params)})"
    if (ret := _annotation(sig.return_annotation)) != "":
        out += f" -> {ret}"
    return out


def _members(qualname: str, cls: type) -> dict[str, str]:
    lines: dict[str, str] = {}
    if typing.is_typeddict(cls):
        # The keywords of the flag reads (``**context: Unpack[...]``): pinned key by key.
        for key, ann in cls.__annotations__.items():
            text = ann.__forward_arg__ if isinstance(ann, typing.ForwardRef) else _annotation(ann)
            required = "" if key in cls.__optional_keys__ else "  [required]"
            lines[key] = f"{qualname}[{key!r}]: {text}{required}"
    if issubclass(cls, msgspec.Struct):
        # Raw annotations: resolving them would need the TYPE_CHECKING-only imports.
        fields, defaults = cls.__struct_fields__, cls.__struct_defaults__
        padded = (inspect.Parameter.empty,) * (len(fields) - len(defaults)) + defaults
        for field, default in zip(fields, padded, strict=True):
            ann = _annotation(cls.__annotations__.get(field, inspect.Parameter.empty))
            value = "" if default is inspect.Parameter.empty else f" = {default!r}"
            lines[field] = f"{qualname}.{field}: {ann}{value}"
    for name, value in sorted(vars(cls).items()):
        if name.startswith("_") and name not in ("__init__", "__enter__", "__aenter__"):
            continue
        if isinstance(value, property):
            ret = _annotation(inspect.signature(value.fget).return_annotation)  # type: ignore[arg-type]
            lines[name] = f"{qualname}.{name}: property -> {ret}"
        elif isinstance(value, classmethod | staticmethod):
            kind = type(value).__name__
            lines[name] = f"{qualname}.{name}{_signature(value.__func__)}  [{kind}]"
        elif inspect.isfunction(value):
            prefix = "async " if inspect.iscoroutinefunction(value) else ""
            lines[name] = f"{prefix}{qualname}.{name}{_signature(value)}"
    return lines


def _describe(module: Any, name: str) -> list[str]:
    value = getattr(module, name)
    qualname = f"{module.__name__}.{name}"
    if inspect.isclass(value):
        bases = ", ".join(b.__name__ for b in value.__bases__)
        members: dict[str, str] = {}
        for klass in value.__mro__:  # the most derived definition of each name wins
            if klass.__module__.startswith("devflow_sdk") and klass is not msgspec.Struct:
                for key, line in _members(qualname, klass).items():
                    members.setdefault(key, line)
        return [f"class {qualname}({bases})", *(members[k] for k in sorted(members))]
    if callable(value):
        return [f"def {qualname}{_signature(value)}"]
    return [f"{qualname} = {value!r}"]


def render() -> str:
    lines: list[str] = []
    for module in (devflow_sdk, devflow_sdk.errors):
        for name in sorted(module.__all__):
            if module is devflow_sdk and name in devflow_sdk.errors.__all__:
                lines.append(f"{module.__name__}.{name} = devflow_sdk.errors.{name}")
                continue
            lines += _describe(module, name)
    return "\n".join(lines) + "\n"


def test_public_api_matches_the_snapshot() -> None:
    current = render()
    if os.environ.get("DEVFLOW_UPDATE_API_SNAPSHOT"):
        SNAPSHOT.write_text(current)
    assert current == SNAPSHOT.read_text(), (
        "the public API changed; review it and regenerate with DEVFLOW_UPDATE_API_SNAPSHOT=1"
    )


def test_every_exported_name_exists_and_dir_lists_it() -> None:
    for name in devflow_sdk.__all__:
        assert getattr(devflow_sdk, name) is not None
    assert set(devflow_sdk.__all__) <= set(dir(devflow_sdk))
