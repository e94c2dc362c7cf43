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


def _import_cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each
    sorted: every one is at least one import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(imports[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return found


def test_import_cycles_finds_a_circle() -> None:
    # The checker itself: a two-module circle and a self-contained chain.
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}, "d": set()}
    assert _import_cycles(graph) == [["a", "b"]]


def test_no_import_cycles() -> None:
    # Every module stands above what it imports, TYPE_CHECKING-only imports included: a circle
    # means two modules can only be understood (and changed) together.
    import grimp

    graph = grimp.build_graph(
        "services", "schemas", "devflow_sdk", exclude_type_checking_imports=False, cache_dir=None
    )
    imports = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = _import_cycles(imports)
    described = []
    for cycle in cycles:
        chain = graph.find_shortest_chain(cycle[0], cycle[1]) or ()
        back = graph.find_shortest_chain(cycle[1], cycle[0]) or ()
        described.append(" -> ".join([*chain, *back[1:]]))
    assert not cycles, "import cycles:\n" + "\n".join(described)
