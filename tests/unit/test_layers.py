"""The floor plan (docs/architecture.md), enforced over the ``ast`` of every module in s3sink/:
imports go one way between the layers, foreign libraries stay in their rooms, and no module
imports another that imports it back, however long the loop."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "s3sink"

# A module's room is its first component under s3sink; leaves are the flat modules beside
# errors.py. A room may import its own modules and any room of a lower rank.
RANK = {
    "leaves": 0,
    "_store": 1,
    "_upload": 2,
    "_writer": 3,
    "_read": 3,
    "_retention": 3,
    "_crypt": 1,
    "_api": 4,
    "fsspec": 5,
    "_fsspec": 4,
    "_mount": 4,
    "_doctor": 4,
    "_exec": 4,
    "cli": 5,
    "__init__": 5,
    "__main__": 6,
}
# Who may import a room at all, when not every higher room may.
ONLY_FOR = {"_exec": {"cli", "_exec"}}
# Foreign libraries and the modules that alone may import them (a prefix names a room).
CONFINED = {
    "botocore": ("s3sink._store.",),
    "boto3": ("s3sink._store.",),
    "awscrt": ("s3sink._store.",),
    "typer": ("s3sink.cli.",),
    "rich": ("s3sink.cli.",),
    "mfusepy": ("s3sink._mount.fuse",),
    "cryptography": ("s3sink._crypt.",),
    "fsspec": ("s3sink.fsspec",),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module (of s3sink, or foreign) that ``name`` imports, at any depth of its code,
    ``TYPE_CHECKING`` blocks included: an upward import for types is still a design smell."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from . import x` imports the module x when there is one, and names nothing
            # of the package's own.
            submodules = {f"{target}.{a.name}" for a in node.names} & MODULES.keys()
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(target)
    return found


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    if parts[1] in RANK:
        return parts[1]
    return "leaves"


def _internal(module: str) -> str | None:
    """The s3sink module an import names (a package's name counts as its __init__)."""
    while module:
        if module in MODULES:
            return module
        module = module.rpartition(".")[0]
    return None


GRAPH = {
    name: {m for m in map(_internal, _imports(name, path)) if m and m != name}
    for name, path in MODULES.items()
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_only(module: str) -> None:
    """A module imports only its own room, lower rooms, and rooms that admit it."""
    room = _room(module)
    for target in sorted(GRAPH[module]):
        other = _room(target)
        if other == room or target == "s3sink.errors":
            continue
        assert RANK[other] < RANK[room], f"{module} imports {target} ({other} is not below {room})"
        allowed = ONLY_FOR.get(other)
        assert allowed is None or room in allowed, f"{module} imports {target}, only for {allowed}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_foreign_libraries_stay_in_their_rooms(module: str) -> None:
    """botocore and awscrt only under _store, typer and rich only under cli, mfusepy only in
    _mount/fuse.py, fsspec only in fsspec.py."""
    for imported in _imports(module, MODULES[module]):
        top = imported.split(".")[0]
        if top in CONFINED:
            assert module.startswith(CONFINED[top]) or module in {
                p.rstrip(".") for p in CONFINED[top]
            }, f"{module} imports {top}"


def test_no_import_cycles() -> None:
    """No module reaches itself through its imports (leaves' ``__init__`` re-exports aside:
    the package's own ``__init__`` is where the public names gather)."""
    graph = {m: {t for t in ts if t != "s3sink"} for m, ts in GRAPH.items() if m != "s3sink"}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_rule_sees_every_room() -> None:
    """Every folder in s3sink/ has a rank, so a new room cannot slip past the rule."""
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders <= set(RANK), folders - set(RANK)
