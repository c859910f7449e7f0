"""Which library code a rule script runs, as a short hash: a fixed function reruns the
jobs it feeds and nothing else.

Snakemake reruns a job when a param changes. Each rule that calls wmhmap passes
``code=script_version(<its script>)``: a hash of the script and of every wmhmap module
it imports, followed through their own wmhmap imports. Comments, docstrings and
formatting are left out (the hash is of the code's syntax tree), so a reworded
docstring reruns nothing, while a changed line in ``wmhmap/loads.py`` reruns the loads
jobs and, through their outputs, what reads them.

Code a module runs from a file rather than by import is named in
:data:`LOADED_BY_PATH` and counts as part of that module: nnU-Net's trainers, which
wmhmap loads from their file, so a changed trainer retrains the models that use it.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = "wmhmap"
PACKAGE_DIR = Path(__file__).resolve().parent

LOADED_BY_PATH: dict[str, tuple[str, ...]] = {
    # nnU-Net's trainer folder (nnUNet_extTrainer), loaded from the file by name
    "wmhmap.nnunet.trainer_lookup": ("nnunet/trainers/wmhmap_trainers.py",),
}
"""Files (relative to the package) a wmhmap module runs without importing them."""


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def module_file(module: str) -> Path | None:
    """The source file of a wmhmap module (``wmhmap.loads``), or None when there is none."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(tree: ast.AST) -> Iterator[str]:
    """wmhmap modules a syntax tree imports (``from wmhmap.x import y``: x, and y when
    it is a module itself; the top-level package's ``__init__`` only by name)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != PACKAGE:
                continue
            if node.module != PACKAGE:
                yield node.module
            for alias in node.names:
                if module_file(f"{node.module}.{alias.name}"):
                    yield f"{node.module}.{alias.name}"


def _parsed(path: Path) -> tuple[str, tuple[str, ...]]:
    """A file's normalised syntax tree (text) and the wmhmap modules it imports."""
    return _parse(path.read_text())


@cache
def _parse(source: str) -> tuple[str, tuple[str, ...]]:
    tree = ast.parse(source)
    modules = tuple(sorted(set(_imported_modules(tree))))
    return ast.dump(_strip_docstrings(tree)), modules


def dependencies(script: str | Path) -> list[str]:
    """The wmhmap modules a script runs, directly or through other wmhmap modules."""
    seen: set[str] = set()
    todo = list(_parsed(Path(script).resolve())[1])
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module)
        if path is None:
            continue
        seen.add(module)
        todo += _parsed(path)[1]
    return sorted(seen)


def script_version(script: str | Path) -> str:
    """A 12-character hash of a script's code and of the wmhmap code it runs
    (unchanged by comments, docstrings and formatting)."""
    digest = hashlib.sha256()
    path = Path(script).resolve()
    digest.update(_parsed(path)[0].encode())
    for module in dependencies(path):
        file = module_file(module)
        assert file is not None
        digest.update(module.encode())
        digest.update(_parsed(file)[0].encode())
        for loaded in LOADED_BY_PATH.get(module, ()):
            digest.update(loaded.encode())
            digest.update(_parsed(PACKAGE_DIR / loaded)[0].encode())
    return digest.hexdigest()[:12]
