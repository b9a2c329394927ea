"""How the package's modules import each other, read from the source (the AST of every module in src):
no module imports an old path or a moved name from where it was, and no import loop joins any modules —
through imports at the top or inside functions alike. The old paths themselves still import, as the same
objects, and warn."""

from __future__ import annotations

import ast
import importlib
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import lookalike

SRC = Path(lookalike.__file__).parent

#: The modules that moved, kept as aliases of where they went (each warns when imported).
OLD_PATHS = {
    "lookalike.index": "lookalike.collection",
    "lookalike.search": "lookalike.collection.ann",
    "lookalike.storage": "lookalike.collection",
    "lookalike.onnx_backend": "lookalike.features.onnx",
    "lookalike.preprocess": "lookalike.features.transforms_numpy",
}

#: Modules that still give, without a warning, the names that moved out of them: where those live now.
GAVE_AWAY = {
    "lookalike.images": "lookalike.scanning",
    "lookalike.collection.ann": "lookalike.collection.plan",
}


@dataclass(frozen=True)
class Import:
    """One import of a lookalike module by another, where it is written."""

    source: str
    target: str
    line: int
    in_function: bool

    def __str__(self) -> str:
        where = " (inside a function)" if self.in_function else ""
        return f"{self.source} -> {self.target} (line {self.line}){where}"


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its ``__init__.py``)."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = ["lookalike", *path.relative_to(SRC).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """The lookalike modules that module ``name`` imports, at its top and inside its functions.

    ``from a.b import c`` imports the module ``a.b.c`` where there is one, else ``a.b``. Imports under
    ``if TYPE_CHECKING:`` are left out: they never run (annotations are strings here), so they cannot
    form a loop. So is the package ``__init__`` that Python runs before a submodule: a module that
    imports its own package's sibling does not import that package.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted if dotted and dotted != name else None

    def targets(node: ast.Import | ast.ImportFrom) -> Iterator[str | None]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield resolve(alias.name)
            return
        base = node.module or ""
        if node.level:
            up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*up, *([node.module] if node.module else [])])
        for alias in node.names:
            full = f"{base}.{alias.name}"
            yield resolve(full if full in known else base)

    def walk(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    yield from walk_one(other, in_function)
                continue
            yield from walk_one(child, in_function)

    def walk_one(node: ast.AST, in_function: bool) -> Iterator[Import]:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in targets(node):
                if target is not None and target.startswith("lookalike"):
                    yield Import(name, target, node.lineno, in_function)
            return
        function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield from walk(node, in_function or function)

    yield from walk(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)


def import_graph() -> dict[str, list[Import]]:
    """Module → its imports of other lookalike modules, the old-path aliases left out."""
    known = modules()
    return {
        name: [i for i in imports(name, path, known) if i.target not in OLD_PATHS]
        for name, path in known.items()
        if name not in OLD_PATHS
    }


def loops(graph: dict[str, list[Import]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): each holds an import loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for edge in graph.get(v, []):
            w = edge.target
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# ------------------------------------------------------------------------------------- the rules


def test_no_module_imports_an_old_path() -> None:
    known = modules()
    old = [
        f"{known[i.source].relative_to(SRC.parent)}:{i.line}: {i.target} (now {OLD_PATHS[i.target]})"
        for name, path in known.items()
        if name not in OLD_PATHS
        for i in imports(name, path, known)
        if i.target in OLD_PATHS
    ]
    assert not old, "imports of old paths:\n" + "\n".join(old)


def defined(path: Path) -> set[str]:
    """The names a module's top level defines: functions, classes and assigned names."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_no_module_imports_a_moved_name_from_where_it_was() -> None:
    known = modules()
    moved = {old: defined(known[new]) for old, new in GAVE_AWAY.items()}
    found = [
        f"{path.relative_to(SRC.parent)}:{node.lineno}: {alias.name} from {node.module} "
        f"(now {GAVE_AWAY[node.module]})"
        for path in known.values()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if isinstance(node, ast.ImportFrom) and not node.level and node.module in moved
        for alias in node.names
        if alias.name in moved[node.module]
    ]
    assert not found, "moved names imported from where they were:\n" + "\n".join(found)


def test_no_import_loop_between_modules() -> None:
    graph = import_graph()
    found = loops(graph)
    message = []
    for component in found:
        message.append(", ".join(component))
        message += [f"    {i}" for v in component for i in graph[v] if i.target in component]
    assert not found, "import loops:\n" + "\n".join(message)


# ---------------------------------------------------------------------------- the rules' own reading


def test_the_graph_sees_imports_inside_functions_and_leaves_type_checking_out(tmp_path: Path) -> None:
    source = tmp_path / "lookalike" / "pkg" / "mod.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from lookalike.pkg import other\n"
        "from . import sibling as s\n"
        "from .. import top\n"
        "if TYPE_CHECKING:\n"
        "    from lookalike import typed\n"
        "def f():\n"
        "    import lookalike.pkg.late.thing\n"
        "    from lookalike.top import name\n"
    )
    names = ["lookalike", "lookalike.pkg", "lookalike.pkg.mod", "lookalike.pkg.other"]
    names += ["lookalike.pkg.sibling", "lookalike.top", "lookalike.typed", "lookalike.pkg.late"]
    known = {n: source for n in names}
    found = {(i.target, i.in_function) for i in imports("lookalike.pkg.mod", source, known)}
    assert found == {
        ("lookalike.pkg.other", False),
        ("lookalike.pkg.sibling", False),
        ("lookalike.top", False),
        ("lookalike.pkg.late", True),
        ("lookalike.top", True),
    }


def test_loops_are_found_however_long() -> None:
    def edges(*pairs: tuple[str, str]) -> dict[str, list[Import]]:
        graph: dict[str, list[Import]] = {}
        for a, b in pairs:
            graph.setdefault(a, []).append(Import(a, b, 1, in_function=True))
            graph.setdefault(b, [])
        return graph

    assert loops(edges(("a", "b"), ("b", "c"))) == []
    assert loops(edges(("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"))) == [["a", "b", "c"]]


# ----------------------------------------------------------------------------------- the old paths


@pytest.mark.parametrize(("old", "new"), OLD_PATHS.items())
def test_old_paths_still_import_and_warn(old: str, new: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated .* import {new} instead"):
        module = importlib.import_module(old)
    moved = importlib.import_module(new)
    if module.__name__ == new:  # an alias of the module itself: the same object under its old name
        assert module is moved and sys.modules[old] is moved
    for name in getattr(module, "__all__", []):
        assert getattr(module, name) is not None, (old, name)


def test_the_warning_names_the_line_that_imports_the_old_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "lookalike.storage", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import lookalike.storage  # noqa: F401
    (warning,) = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert warning.filename == __file__


def test_old_paths_name_the_same_objects_as_the_new_ones() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import lookalike.index
        import lookalike.onnx_backend
        import lookalike.search
        import lookalike.storage
    from lookalike import collection
    from lookalike.collection import ann, disk, plan, recovery
    from lookalike.features import onnx

    assert lookalike.Index is lookalike.index.Index is collection.Index
    assert lookalike.index_folder is lookalike.index.index_folder is collection.index_folder
    assert lookalike.find_index is lookalike.index.find_index is collection.find_index
    assert lookalike.search.Structure is ann.Structure and lookalike.search.ivf_lists is ann.ivf_lists
    assert lookalike.search.choose_structure is ann.choose_structure is plan.choose_structure
    assert lookalike.storage.StorageError is disk.StorageError is collection.StorageError
    assert lookalike.storage.save_copy is recovery.save_copy
    assert lookalike.onnx_backend is onnx  # the same module: monkeypatching the old path still works
