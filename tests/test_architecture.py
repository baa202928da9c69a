"""The shape of the package: no import cycles (module or package level), no reaching into private names.

The import graph is read from the source with ``ast`` (module-level and function-level imports
alike; imports under ``if TYPE_CHECKING:`` are for annotations only and do not count).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import seafloorhmc
from seafloorhmc.testing.docstrings import missing_sections

PACKAGE = Path(seafloorhmc.__file__).parent
NAME = PACKAGE.name


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for child in node.body for n in ast.walk(child)}
    return skip


def _is_private_to_another(importer: str, target: str) -> bool:
    """Whether ``target`` (a dotted name) is private to a package ``importer`` is not inside.

    A name ``_x`` is private to the module (or package) defining it; ``pkg._mod`` is private to
    ``pkg``. Importing ``pkg._mod`` from inside ``pkg`` is fine; from elsewhere it is not.
    """
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:i])
            return not (importer == owner or importer.startswith(owner + "."))
    return False


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """(module → modules it imports, [(importer, private name imported from another package)])."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    private = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node.level, node.module)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in modules else base)
                    if base.startswith(NAME) and _is_private_to_another(module, full if full not in modules else base):
                        private.append((module, full))
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph[module].add(target)
    return graph, private


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return found


def _package_of(module: str) -> str:
    """``seafloorhmc.data.readers.coralnet`` → ``seafloorhmc.data``: the top-level unit of the layout."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_module_import_cycles():
    graph, _ = import_graph()
    assert _cycles(graph) == []


def test_no_package_import_cycles():
    """Subpackages and top-level modules form a layered graph: data flows down, imports point up."""
    graph, _ = import_graph()
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if module == NAME:
            continue  # the lazy public API names everything
        source = _package_of(module)
        packages.setdefault(source, set()).update(
            _package_of(t) for t in targets if _package_of(t) not in (source, NAME))
    assert _cycles(packages) == []


def test_the_checks_detect_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_names_across_modules():
    _, private = import_graph()
    assert private == []


def _relative(problem: str) -> str:
    """``/abs/seafloorhmc/x.py:12 name: what`` → ``seafloorhmc/x.py name: what`` (stable under edits)."""
    location, _, rest = problem.partition(" ")
    path = location.rsplit(":", 1)[0]
    return f"{Path(path).resolve().relative_to(PACKAGE.parent)} {rest}"


def test_every_module_declares_its_public_names():
    missing = [f"{p.relative_to(PACKAGE.parent)} no __all__" for m, p in _modules().items()
               if "__all__" not in p.read_text(encoding="utf-8") and p.name not in ("__main__.py",)]
    assert missing == [], "modules without __all__:\n" + "\n".join(missing)


def test_public_api_is_documented_google_style():
    problems = [_relative(p) for path in sorted(PACKAGE.rglob("*.py")) for p in missing_sections(path)]
    assert problems == [], (f"{len(problems)} public names without Google-style Args/Returns/Raises:\n"
                            + "\n".join(problems[:40]))


def test_the_docstring_check_finds_what_is_missing(tmp_path):
    source = tmp_path / "m.py"
    source.write_text('''
__all__ = ["good", "bad", "Thing"]


def good(a, *, b=1):
    """Do it.

    Args:
        a: The a.
        b: The b.

    Returns:
        Something.

    Raises:
        ValueError: When a is bad.
    """
    if a:
        raise ValueError(a)
    return a + b


def bad(a, b):
    """Do it.

    Args:
        a: The a.
    """
    if a:
        raise KeyError(a)
    return b


class Thing:
    """A thing."""

    def __init__(self, size):
        self.size = size

    def grow(self, by: int) -> None:
        """Grow."""
''')
    problems = [p.split(" ", 1)[1] for p in missing_sections(source)]
    assert problems == ["bad: Args lacks b", "bad: no Returns section", "bad: Raises lacks KeyError",
                        "Thing: Args lacks size", "Thing.grow: Args lacks by"]


def test_importing_the_package_and_its_cli_loads_no_torch():
    code = "import sys, seafloorhmc, seafloorhmc.cli, seafloorhmc.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
