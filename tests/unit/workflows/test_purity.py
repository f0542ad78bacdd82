"""The reducer and the plain-data modules import no I/O library: reducers are pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import liteagent.workflows as workflows

PURE = [
    "reducer.py",
    "state.py",
    "types.py",
    "expressions.py",
    "expression_syntax.py",
    "schema.py",
]
IO_LIBRARIES = {"httpx", "sqlalchemy", "redis", "litellm", "aiohttp", "requests", "socket"}


@pytest.mark.parametrize("module", PURE)
def test_module_imports_no_io_library(module: str) -> None:
    source = (Path(workflows.__file__).parent / module).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & IO_LIBRARIES, imported & IO_LIBRARIES


@pytest.mark.parametrize("module", ["expressions.py", "expression_syntax.py"])
def test_expressions_never_use_eval(module: str) -> None:
    source = (Path(workflows.__file__).parent / module).read_text()
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    assert not names & {"eval", "exec", "compile", "getattr", "__import__"}
