"""The longest functions of the project, by source lines.

    .venv/bin/python scripts/function_lengths.py            # the 25 longest over the apps and taskml/
    .venv/bin/python scripts/function_lengths.py -n 50 --min 60
    .venv/bin/python scripts/function_lengths.py --json > lengths.json

Walks the Python files with `ast` (FunctionDef and AsyncFunctionDef, methods and nested functions
too, each counted on its own: a nested function's lines also count in its parent's). ``lines``
runs from the ``def`` line to the last line (decorators excluded); ``code`` is the same less the
docstring, and orders the list. Migrations, tests, bench/ and scripts/ are not walked.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "taskml",
    "jobs",
    "videos",
    "datasets",
    "models_app",
    "streaming",
    "learning",
    "retraining",
    "users",
    "backend",
    "web",
    "lsbackend",
)


def function_lengths(root: Path = ROOT) -> list[tuple[int, int, str, str]]:
    """Every function as (code lines, lines, "path:line", qualified name), longest code first."""
    found: list[tuple[int, int, str, str]] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            _walk(tree, [], path.relative_to(root).as_posix(), found)
    found.sort(key=lambda row: (-row[0], -row[1], row[2]))
    return found


def _walk(node: ast.AST, names: list[str], path: str, found: list) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = child.end_lineno - child.lineno + 1
            first = child.body[0]
            docstring = (
                first.end_lineno - first.lineno + 1
                if isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
                else 0
            )
            found.append((lines - docstring, lines, f"{path}:{child.lineno}", ".".join([*names, child.name])))
            _walk(child, [*names, child.name], path, found)
        elif isinstance(child, ast.ClassDef):
            _walk(child, [*names, child.name], path, found)
        else:
            _walk(child, names, path, found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=25, help="how many to list (default 25)")
    parser.add_argument("--min", type=int, default=0, help="list only functions of at least this many code lines")
    parser.add_argument("--json", action="store_true", help="print every function as JSON")
    args = parser.parse_args(argv)
    rows = function_lengths()
    if args.json:
        json.dump([{"code": c, "lines": n, "where": w, "name": q} for c, n, w, q in rows], sys.stdout, indent=1)
        print()
        return 0
    rows = [row for row in rows if row[0] >= args.min][: args.n]
    print(" code  lines  function")
    for code, lines, where, name in rows:
        print(f"{code:5d}  {lines:5d}  {name:50s} {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
