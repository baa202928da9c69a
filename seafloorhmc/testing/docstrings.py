"""Checks that keep the public API documented: Google-style ``Args`` / ``Returns`` / ``Raises`` sections.

:func:`missing_sections` reads a module's source (no import) and reports every public function,
class and method (names in the module's ``__all__``, and public methods of those classes) whose
docstring lacks a parameter, a ``Returns:`` for a function that returns a value, or a ``Raises:``
entry for an exception it raises itself. The test suite runs it over the whole package.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

__all__ = ["missing_sections", "public_names"]

_SECTION = re.compile(r"^\s*(Args|Arguments|Attributes|Returns|Yields|Raises|Example|Examples|Note|Notes):\s*$",
                      re.MULTILINE)


def _sections(doc: str) -> dict[str, str]:
    """Section name → its text."""
    out: dict[str, str] = {}
    matches = list(_SECTION.finditer(doc))
    for m, nxt in zip(matches, matches[1:] + [None]):
        out[m.group(1)] = doc[m.end(): nxt.start() if nxt else len(doc)]
    return out


def _documents(text: str, name: str) -> bool:
    return re.search(rf"^\s*\*{{0,2}}{re.escape(name)}\s*(\(.*\))?:", text, re.MULTILINE) is not None


def _raised(node: ast.AST) -> set[str]:
    """Exception classes ``raise Name(...)`` / ``raise Name`` names in the body (not in nested functions)."""
    found: set[str] = set()

    def walk(n: ast.AST) -> None:
        for child in ast.iter_child_nodes(n):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                exc = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                if isinstance(exc, ast.Name) and exc.id[:1].isupper():
                    found.add(exc.id)
            walk(child)

    walk(node)
    return found


def _returns_value(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    ann = fn.returns
    if ann is None:
        return any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(fn))
    text = ast.unparse(ann)
    return text not in ("None", "NoReturn", "Never")


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = fn.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    if args.vararg:
        names.append(args.vararg.arg)
    if args.kwarg:
        names.append(args.kwarg.arg)
    return [n for n in names if n not in ("self", "cls")]


def _check_function(fn: ast.FunctionDef | ast.AsyncFunctionDef, where: str, is_property: bool = False) -> list[str]:
    doc = ast.get_docstring(fn) or ""
    if not doc:
        return [f"{where}: no docstring"]
    sections = _sections(doc)
    problems = []
    params = _params(fn)
    if params:
        args = sections.get("Args") or sections.get("Arguments") or ""
        missing = [p for p in params if not _documents(args, p)]
        if missing:
            problems.append(f"{where}: Args lacks {', '.join(missing)}")
    generator = any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(fn))
    if _returns_value(fn) and not is_property and not (sections.keys() & {"Returns", "Yields"}) and not generator:
        problems.append(f"{where}: no Returns section")
    raised = _raised(fn)
    if raised:
        text = sections.get("Raises", "")
        missing = sorted(e for e in raised if e not in text)
        if missing:
            problems.append(f"{where}: Raises lacks {', '.join(missing)}")
    return problems


def public_names(tree: ast.Module) -> list[str]:
    """The names a module's ``__all__`` lists, read from its syntax tree without importing it.

    Args:
        tree: The module's parsed source.

    Returns:
        The names (empty when it has no literal ``__all__``).
    """
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                return [str(v) for v in ast.literal_eval(node.value)]
            except ValueError:
                return []
    return []


def missing_sections(path: str | Path) -> list[str]:
    """Problems with the docstrings of the public API defined in one source file.

    Args:
        path: A Python source file.

    Returns:
        One line per problem: ``file:line name: what is missing``.
    """
    path = Path(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    public = set(public_names(tree))
    problems: list[str] = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or node.name not in public:
            continue
        where = f"{path}:{node.lineno} {node.name}"
        if isinstance(node, ast.ClassDef):
            problems += _check_class(node, where, path)
        else:
            problems += _check_function(node, where)
    return problems


def _check_class(cls: ast.ClassDef, where: str, path: Path) -> list[str]:
    doc = ast.get_docstring(cls) or ""
    if not doc:
        return [f"{where}: no docstring"]
    problems = []
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is not None:
        params = _params(init)
        sections = _sections(doc)
        text = (sections.get("Args") or "") + (sections.get("Attributes") or "")
        init_doc = ast.get_docstring(init) or ""
        text += _sections(init_doc).get("Args", "")
        missing = [p for p in params if not _documents(text, p)]
        if missing:
            problems.append(f"{where}: Args lacks {', '.join(missing)}")
        raised = _raised(init)
        raises = _sections(doc).get("Raises", "") + _sections(init_doc).get("Raises", "")
        if any(e not in raises for e in raised):
            problems.append(f"{where}: Raises lacks {', '.join(sorted(e for e in raised if e not in raises))}")
    for item in cls.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
            decorators = {ast.unparse(d) for d in item.decorator_list}
            if {"overload", "typing.overload"} & decorators:
                continue
            is_property = bool({"property", "functools.cached_property", "cached_property"} & decorators)
            if is_property or item.name.endswith("setter"):
                if not ast.get_docstring(item):
                    problems.append(f"{path}:{item.lineno} {cls.name}.{item.name}: no docstring")
                continue
            problems += _check_function(item, f"{path}:{item.lineno} {cls.name}.{item.name}")
    return problems
