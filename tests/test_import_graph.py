"""The ``uspec_audit`` package imports without circles.

The graph is read from the source with :mod:`ast` (nothing is imported). An edge ``a -> b`` is an
import of module ``b`` by module ``a``:

- ``import x.y`` and ``from x import y`` (``y`` a submodule) point at ``x.y``; ``from x import name`` (a name
  defined in ``x/__init__.py``) points at the package ``x``. Importing ``x.y`` also runs every package above
  it, so those are edges too -- except the packages above ``a`` itself, which Python has already started
  when ``a`` runs (``metrics/registry.py`` importing its sibling ``metrics.calibration`` is no circle).
- Imports at module level are **eager** edges. Imports inside a function are **lazy** edges: allowed,
  and counted, because a lazy import that closes a circle is still a circle (it only hides it until the
  function runs, and makes the import order decide what works). Failure messages say which edges are lazy.
- Imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "uspec_audit"
CONFIG = "uspec_audit.config"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    lazy: bool
    where: str  # file:line

    def describe(self) -> str:
        return f"{self.source} -> {self.target} ({'lazy, inside a function' if self.lazy else 'module level'}, {self.where})"


def _modules(package: Path) -> dict[str, Path]:
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def import_edges(package: Path = PACKAGE) -> list[Edge]:
    """Every import of one module of the package by another (see the module docstring)."""
    modules = _modules(package)
    root = package.name
    edges: list[Edge] = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]

        def add(target: str, lazy: bool, line: int, *, name: str = name, path: Path = path) -> None:
            where = f"{path.relative_to(package.parent)}:{line}"
            for module in [*_ancestors(target), target]:
                if module in modules and module != name and module not in _ancestors(name):
                    edges.append(Edge(name, module, lazy, where))
            if target in _ancestors(name):  # a name from the __init__ of a package above this module
                edges.append(Edge(name, target, lazy, where))

        def visit(node: ast.AST, lazy: bool, *, here: str = here, add=add) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child):
                    for sub in child.orelse:
                        visit(sub, lazy)
                    continue
                inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                if isinstance(child, ast.Import):
                    for alias in child.names:
                        if alias.name.split(".")[0] == root:
                            add(alias.name, lazy, child.lineno)
                elif isinstance(child, ast.ImportFrom):
                    base = child.module or ""
                    if child.level:
                        parts = here.split(".")
                        base = ".".join(parts[: len(parts) - child.level + 1] + ([base] if base else []))
                    if base.split(".")[0] != root:
                        continue
                    for alias in child.names:
                        submodule = f"{base}.{alias.name}"
                        add(submodule if submodule in modules else base, lazy, child.lineno)
                visit(child, inner)

        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return edges


def circles(edges: list[Edge]) -> list[list[Edge]]:
    """One shortest circle through each strongly connected group of modules (Tarjan, then a BFS)."""
    graph: dict[str, dict[str, Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
        graph.setdefault(edge.target, {})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    found = []
    for group in groups:
        members = set(group)
        start = group[0]
        previous: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in previous:
            following = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w in members and w not in previous:
                        previous[w] = v
                        following.append(w)
            frontier = following
        path = [start]
        while True:
            path.append(previous[path[-1]])
            if path[-1] == start:
                break
        path.reverse()
        found.append([graph[a][b] for a, b in zip(path, path[1:], strict=False)])
    return found


def _report(found: list[list[Edge]]) -> str:
    return "import circles:\n" + "\n".join(
        "  circle:\n" + "\n".join(f"    {edge.describe()}" for edge in circle) for circle in found
    )


def _touches_config(circle: list[Edge]) -> bool:
    return any(e.source == CONFIG or e.source.startswith(CONFIG + ".") for e in circle)


def test_the_graph_sees_eager_lazy_and_package_edges(tmp_path):
    """The reader finds what it must (on a package made here), so no circle means none rather than a blind
    reader; and a circle is reported with its lazy edge named."""
    files = {
        "__init__.py": "from pkg.sub import helper\n",
        "sub/__init__.py": "",
        "sub/helper.py": "from . import sibling\nimport os\n",
        "sub/sibling.py": "def later():\n    from pkg.top import thing\n",
        "sub/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import top\n",
        "top.py": "from pkg.sub.helper import x\nthing = 1\n",
        "inner.py": "from pkg import thing_in_init\n",
    }
    for name, text in files.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    edges = import_edges(tmp_path / "pkg")
    pairs = {(e.source, e.target): e for e in edges}
    assert not pairs[("pkg", "pkg.sub.helper")].lazy
    assert ("pkg", "pkg.sub") in pairs  # the package above the module imported runs too
    assert ("pkg.sub.helper", "pkg.sub.sibling") in pairs and ("pkg.sub.helper", "pkg.sub") not in pairs
    assert pairs[("pkg.sub.sibling", "pkg.top")].lazy
    assert ("pkg.inner", "pkg") in pairs  # a name from the __init__ of its own package
    assert not any(e.source == "pkg.sub.typed" for e in edges)  # TYPE_CHECKING imports never run
    found = circles(edges)
    described = _report(found)
    assert "pkg.sub.sibling -> pkg.top (lazy, inside a function, pkg/sub/sibling.py:2)" in described
    assert {e.source for c in found for e in c} >= {"pkg.sub.helper", "pkg.sub.sibling", "pkg.top"}


def test_no_import_circles_outside_config():
    """No circle that stays outside ``uspec_audit/config/``; the circles through config/ are the next test's."""
    found = [c for c in circles(import_edges()) if not _touches_config(c)]
    assert not found, _report(found)


def test_no_import_circles():
    found = circles(import_edges())
    assert not found, _report(found)
