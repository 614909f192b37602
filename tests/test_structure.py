"""The shape of the package: no import circle, small modules, the base layer below everything.

The import graph is read from the source with :mod:`ast` (nothing is imported): every ``import`` and
``from ... import`` of a gensr module, at module level or inside a function, except under
``if TYPE_CHECKING:``. ``from gensr.a import b`` is an edge to ``gensr.a.b`` when that is a module,
else to ``gensr.a``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gensr"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    mods = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements anywhere in ``tree``, skipping ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(local: bool = True) -> dict[str, set[str]]:
    """Module -> the gensr modules it imports (``local``: function-local imports count too)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = (
            _imports(tree) if local else [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        )
        deps: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & mods.keys()
                deps |= subs if len(subs) == len(node.names) else subs | {node.module}
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return path[path.index(w) :] + [w]
            if w not in state and (found := visit(w)):
                return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.parametrize("local", [False, True], ids=["module-level", "with-function-local"])
def test_no_import_circle_in_src(local: bool) -> None:
    graph = import_graph(local)
    assert len(graph) > 50 and "gensr.infer.tiling" in graph["gensr.infer.upscaler"]  # the graph is real
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_infer_is_a_one_way_street() -> None:
    """layout <- geometry <- tuning <- tiling <- seams <- upscaler: each imports only those before it."""
    order = ["layout", "geometry", "tuning", "tiling", "seams", "upscaler"]
    graph = import_graph()
    for i, name in enumerate(order):
        later = {f"gensr.infer.{n}" for n in order[i + 1 :]} | {"gensr.infer"}
        assert not graph[f"gensr.infer.{name}"] & later, name


def test_no_function_local_imports_inside_infer_but_optional_ones() -> None:
    optional = {"onnxruntime"}
    for path in sorted((SRC / "infer").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(n) for n in tree.body}
        for node in _imports(tree):
            if id(node) in top:
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert all(n.split(".")[0] in optional for n in names), f"{path.name}:{node.lineno}"


def test_the_base_layer_imports_nothing_else_of_gensr_and_no_torch_but_its_tensors() -> None:
    graph = import_graph()
    for name, deps in graph.items():
        if name.startswith("gensr.base"):
            assert all(d.startswith("gensr.base") for d in deps), name
    for path in (SRC / "base").glob("*.py"):
        if path.stem != "tensors":
            assert "torch" not in {n.split(".")[0] for n in _imported_names(path)}, path.name


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        names |= {a.name for a in node.names} if isinstance(node, ast.Import) else {node.module or ""}
    return names


def test_no_module_over_400_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long


def test_no_top_level_module_serves_a_single_package() -> None:
    """A module at the top of the package is used by at least two packages (else it lives in that one)."""
    graph = import_graph()
    entry = {"gensr", "gensr.__main__", "gensr.cli"}
    for name in graph:
        if name.count(".") != 1 or name in entry or (SRC / name.split(".")[1]).is_dir():
            continue
        users = {m.split(".")[1] if m.count(".") >= 2 else m for m, deps in graph.items() if name in deps}
        assert len(users - {name}) >= 2, f"{name} is used by {sorted(users)} only"
