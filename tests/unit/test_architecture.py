"""The layout keeps its promises: no import cycles, rooms talk through their public API, the worker path stays lean.

The import graph is read from the source (every ``import`` and ``from ... import``, function-level ones too), so
a cycle hidden behind a lazy import is caught as well.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("crosshedge", "adapters", "risk", "optimizer", "orchestrator", "devnet")
#: Rooms, most specific first: code in one room imports another room only through the room's package root.
ROOMS = ("crosshedge.config", "crosshedge.cli", "crosshedge.demo", "adapters", "risk", "optimizer", "orchestrator",
         "devnet", "crosshedge")
#: Which rooms each room may import (the layering; anything else is a dependency pointing the wrong way).
ALLOWED: dict[str, set[str]] = {
    "crosshedge": set(),
    "adapters": {"crosshedge"},
    "crosshedge.config": {"crosshedge", "adapters"},
    "devnet": {"crosshedge", "crosshedge.config"},
    "risk": {"crosshedge", "crosshedge.config", "adapters"},
    "optimizer": {"crosshedge", "crosshedge.config", "adapters"},
    "orchestrator": {"crosshedge", "crosshedge.config", "adapters", "risk", "optimizer"},
    "crosshedge.demo": {"crosshedge", "crosshedge.config", "adapters", "risk", "optimizer", "orchestrator", "devnet"},
    "crosshedge.cli": {"crosshedge", "crosshedge.config", "crosshedge.demo", "adapters", "risk", "optimizer",
                       "orchestrator", "devnet"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            out[module_name(path)] = path
    return out


def room_of(module: str) -> str | None:
    return next((r for r in ROOMS if module == r or module.startswith(r + ".")), None)


def exported(init: Path) -> set[str]:
    """The names in a package's ``__all__``."""
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return {str(e.value) for e in getattr(node.value, "elts", []) if isinstance(e, ast.Constant)}
    return set()


def imports(path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in ``path`` that names one of ``known``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module not in known:
                continue
            api = exported(known[node.module]) if known[node.module].name == "__init__.py" else set()
            for alias in node.names:  # `from pkg import submodule` imports the submodule, unless pkg exports it
                sub = f"{node.module}.{alias.name}"
                yield (sub if sub in known and alias.name not in api else node.module), node.lineno


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {target for target, _ in imports(path, known) if target != name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_cycle_detection_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_there_are_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_rooms_import_each_other_only_through_their_public_api() -> None:
    known = modules()
    wrong: list[str] = []
    for name, path in known.items():
        here = room_of(name)
        for target, line in imports(path, known):
            there = room_of(target)
            if there is None or there == here or (here or "").startswith(there + "."):
                continue  # same room, or a subpackage of crosshedge using the core modules
            if target != there:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {target} (use `from {there} import ...`)")
            elif here is not None and there not in ALLOWED[here]:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {here} must not depend on {there}")
    assert wrong == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_declares_its_public_api(package: str) -> None:
    missing = [str(p.relative_to(REPO)) for p in (REPO / package).rglob("__init__.py")
               if "__all__" not in p.read_text()]
    assert missing == []


def test_the_worker_path_imports_neither_the_cli_nor_the_devnet() -> None:
    code = ("import orchestrator.tasks, sys; bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('typer', 'devnet', 'matplotlib') or m.startswith(('crosshedge.cli', 'crosshedge.demo'))); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
