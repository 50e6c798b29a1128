"""The package's layering, read from its source: who imports whom.

Every import counts, those under `if TYPE_CHECKING:` and inside functions included, since each
one is a dependency a reader of the module has to follow. The graph of smugfs's modules has no
cycle, the emulator imports nothing of the client side, nothing of the product imports the test
support (smugfs.testing), and the libraries that belong to one layer are imported only there
(ruff's banned-api rule says the same per file; this checks the whole package at once).
"""

from __future__ import annotations

import ast
from pathlib import Path

import smugfs

PACKAGE = Path(smugfs.__file__).parent

# The libraries of one layer, and the modules allowed to import them.
LAYER_LIBRARIES = {
    "pyfuse3": ("smugfs.fuse_ops", "smugfs.mount"),
    "httpx": ("smugfs.api.", "smugfs.emulator.", "smugfs.testing."),
    "httpcore": ("smugfs.api.",),
    "authlib": ("smugfs.api.", "smugfs.emulator.", "smugfs.testing."),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> tuple[set[str], set[str]]:
    """The smugfs modules and the top-level third-party packages module `name` imports."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from smugfs.api import oauth` depends on the module smugfs.api.oauth, and
            # `from smugfs.listings import Listings` on the package's `__init__`.
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                targets.add(submodule if submodule in MODULES else node.module)
    # Importing a module runs its packages' `__init__` first, whoever imports it: those edges
    # are Python's, not the module's, and are not counted.
    ours = {target for target in targets if target in MODULES and target != name}
    libraries = {target.split(".")[0] for target in targets if not target.startswith("smugfs")}
    return ours, libraries


GRAPH = {name: imported(name)[0] for name in MODULES}


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in GRAPH[name]:
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    return sorted(found)


# The client's core, in the one direction docs/architecture.md draws: fuse_ops -> fs ->
# {changes, reader} -> listings -> tree. A module may not reach (through any chain of imports)
# the layers above its own.
ABOVE = {
    "smugfs.fs": ("smugfs.fuse_ops", "smugfs.mount", "smugfs.core"),
    "smugfs.changes": ("smugfs.fs", "smugfs.fuse_ops", "smugfs.mount", "smugfs.core"),
    "smugfs.reader": ("smugfs.fs", "smugfs.changes", "smugfs.fuse_ops", "smugfs.mount"),
    "smugfs.listings": ("smugfs.fs", "smugfs.changes", "smugfs.reader", "smugfs.fuse_ops"),
    "smugfs.tree": ("smugfs.listings", "smugfs.fs", "smugfs.changes", "smugfs.fuse_ops"),
}


def reachable(name: str) -> set[str]:
    """Every module `name` imports, directly or through others."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_walk_sees_the_package() -> None:
    assert "smugfs.api.client" in GRAPH["smugfs.fs"]
    assert "smugfs.api.transport" in GRAPH["smugfs.api.client"]
    assert "pyfuse3" in imported("smugfs.fuse_ops")[1]


def test_no_module_imports_itself_back_through_others() -> None:
    assert cycles() == []


def test_the_emulator_imports_nothing_of_the_client_side() -> None:
    for name, targets in GRAPH.items():
        if name.startswith("smugfs.emulator"):
            outside = {t for t in targets if not t.startswith("smugfs.emulator")}
            assert outside == set(), f"{name} imports {sorted(outside)}"


def test_the_product_imports_nothing_of_the_test_support() -> None:
    for name, targets in GRAPH.items():
        if not name.startswith("smugfs.testing"):
            support = {t for t in targets if t.startswith("smugfs.testing")}
            assert support == set(), f"{name} imports {sorted(support)}"


def test_each_layers_libraries_are_imported_only_in_that_layer() -> None:
    for name in MODULES:
        for library in imported(name)[1] & set(LAYER_LIBRARIES):
            assert name.startswith(LAYER_LIBRARIES[library]), f"{name} imports {library}"


def test_the_core_imports_only_downwards() -> None:
    for name in MODULES:
        layer = next((layer for layer in ABOVE if f"{name}.".startswith(f"{layer}.")), None)
        if layer is None:
            continue
        above = {t for t in reachable(name) if t.startswith(ABOVE[layer])}
        assert above == set(), f"{name} reaches {sorted(above)}"
