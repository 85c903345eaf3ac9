"""The longest functions of the project, by source lines (def line to last line, decorators excluded).

    .venv/bin/python scripts/function_lengths.py            # the 25 longest over the apps and taskml/
    .venv/bin/python scripts/function_lengths.py -n 50 --min 60
    .venv/bin/python scripts/function_lengths.py --json > lengths.json

Walks the Python files with `ast` (FunctionDef and AsyncFunctionDef, methods and nested functions
too, each counted on its own: a nested function's lines also count in its parent's). Migrations,
tests, bench/ and scripts/ are not walked.
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


def function_lengths(root: Path = ROOT) -> list[tuple[int, str, str]]:
    """Every function's length in lines, longest first, as (lines, "path:line", qualified name)."""
    found: list[tuple[int, str, str]] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            _walk(tree, [], path.relative_to(root).as_posix(), found)
    found.sort(key=lambda row: (-row[0], row[1]))
    return found


def _walk(node: ast.AST, names: list[str], path: str, found: list) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = child.end_lineno - child.lineno + 1
            found.append((lines, f"{path}:{child.lineno}", ".".join([*names, child.name])))
            _walk(child, [*names, child.name], path, found)
        elif isinstance(child, ast.ClassDef):
            _walk(child, [*names, child.name], path, found)
        else:
            _walk(child, names, path, found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=25, help="how many to list (default 25)")
    parser.add_argument("--min", type=int, default=0, help="list only functions of at least this many lines")
    parser.add_argument("--json", action="store_true", help="print every function as JSON")
    args = parser.parse_args(argv)
    rows = function_lengths()
    if args.json:
        json.dump([{"lines": n, "where": w, "name": q} for n, w, q in rows], sys.stdout, indent=1)
        print()
        return 0
    rows = [row for row in rows if row[0] >= args.min][: args.n]
    for lines, where, name in rows:
        print(f"{lines:5d}  {name:50s} {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
