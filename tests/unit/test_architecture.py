"""The package's structure (ARCHITECTURE.md): layers, no import cycles, one registry mechanism,
and the seeds' public names working as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from liteagent.plugins import REGISTRIES, get_provider_summary, load_all_plugins

ROOT = Path(__file__).resolve().parents[2]


def test_the_layer_contracts_hold() -> None:
    """import-linter's contracts in pyproject.toml: dependencies point one way, reducers are
    pure. A new import that breaks a rule fails here with the offending line named."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout or "broken" not in result.stdout.lower(), result.stdout


def test_every_module_has_a_layer() -> None:
    """A new top-level package or module is placed in a layer (pyproject.toml) before it lands."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [layers] = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    placed = {
        name.strip() for layer in layers["layers"] for name in layer.replace("|", ":").split(":")
    }
    package = ROOT / "src" / "liteagent"
    modules = {
        f"liteagent.{p.stem if p.is_file() else p.name}"
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert modules - placed == set()


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected sets of modules (Tarjan), larger than one module."""
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work: list[tuple[str, list[str]]] = [
            (start, sorted(graph.find_modules_directly_imported_by(start)))
        ]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            if targets:
                target = targets.pop()
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, sorted(graph.find_modules_directly_imported_by(target))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or around a circle (imports made only for
    type checking do not count: they run no code)."""
    graph = grimp.build_graph("liteagent", exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]


def test_every_registry_lists_its_built_ins() -> None:
    """One registry mechanism: built-ins (catalog kinds' runners included) come from entry
    points exactly like plugins."""
    load_all_plugins()
    summary = get_provider_summary()
    assert set(summary) == set(REGISTRIES)
    assert summary["runner"] == ["agent", "agno", "rag", "workflow"]
    assert {"openai", "anthropic", "ollama", "local"} <= set(summary["llm"])
    assert summary["storage"] == ["postgresql", "sqlite"]
    assert REGISTRIES["runner"].get_metadata("agent").source == "entry_point"


def test_a_plugin_kind_registers_and_builds_like_a_built_in() -> None:
    from liteagent.proxy.runners import register_runner, runner_registry

    built: list[str] = []

    @register_runner("echo-test-kind")
    def build(spec: object, ctx: object, settings: object) -> object:
        built.append(str(spec))
        return "runner"

    try:
        assert "echo-test-kind" in runner_registry.list_providers()
        assert runner_registry.get("echo-test-kind", spec="s", ctx=None, settings=None) == "runner"
        assert built == ["s"]
    finally:
        runner_registry.unregister("echo-test-kind")


def test_seed_exceptions_and_usage_mapping() -> None:
    from liteagent.errors import (
        LiteAgentError,
        LiteAgentException,
        ProviderConfigurationError,
        ValidationError,
    )
    from liteagent.llm import LLMResponse, Usage

    assert LiteAgentException is LiteAgentError
    assert ProviderConfigurationError("bad key").status_code == 400
    http = ValidationError("name in use").to_http_exception()
    assert http.status_code == 422
    assert http.detail["type"] == "validation_error"
    assert http.detail["message"] == "name in use"
    response = LLMResponse("hi", "m", Usage(prompt_tokens=3, completion_tokens=4))
    assert response.usage["total_tokens"] == 7
    assert response.usage.get("prompt_tokens") == 3
    assert dict(response.usage) == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    with pytest.raises(KeyError):
        response.usage["cost"]
