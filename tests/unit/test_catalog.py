from pathlib import Path

import pytest

from liteagent.catalog import AgentSpec, load_catalog, parse_catalog
from liteagent.errors import AgentNotFoundError, CatalogError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "liteagent.yaml"
    p.write_text(text)
    return p


def test_demo_catalog_serves_assistant() -> None:
    catalog = load_catalog(ROOT / "liteagent.yaml")
    assert "liteagent/assistant" in catalog.model_names()
    spec = catalog.get("liteagent/assistant")
    assert isinstance(spec, AgentSpec)
    assert spec.system_prompt.strip()


def test_missing_field_names_file_entry_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  helper:\n    description: no prompt\n")
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "models.helper.system_prompt" in msg


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  a:\n    system_prompt: hi\n    temprature: 0.2\n")
    with pytest.raises(CatalogError, match=r"models\.a\.temprature"):
        load_catalog(path)


def test_bad_values_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  a:\n    system_prompt: hi\n    temperature: 9\n")
    with pytest.raises(CatalogError, match=r"models\.a\.temperature"):
        load_catalog(path)
    path = write(tmp_path, "models:\n  a:\n    system_prompt: hi\n    model: gpt-4o\n")
    with pytest.raises(CatalogError, match=r"models\.a\.model: .*<provider>/<model>"):
        load_catalog(path)


def test_bad_names_and_kinds(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"models\.Bad Name\.name"):
        load_catalog(write(tmp_path, "models:\n  Bad Name:\n    system_prompt: hi\n"))
    with pytest.raises(CatalogError, match=r"models\.a.*kind"):
        load_catalog(write(tmp_path, "models:\n  a:\n    kind: robot\n    system_prompt: hi\n"))


def test_yaml_syntax_error_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  a:\n    system_prompt: [unclosed\n")
    with pytest.raises(CatalogError, match=r"YAML syntax error at line \d+"):
        load_catalog(path)


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="LITEAGENT_CATALOG"):
        load_catalog(tmp_path / "nope.yaml")


def test_unknown_top_level_key() -> None:
    with pytest.raises(CatalogError, match="unknown top-level key"):
        parse_catalog({"agents": {}})


def test_lookup_lists_available_models() -> None:
    catalog = parse_catalog({"models": {"a": {"system_prompt": "x"}, "b": {"system_prompt": "y"}}})
    assert catalog.get("liteagent/a").name == "a"
    assert catalog.get("b").name == "b"
    with pytest.raises(AgentNotFoundError) as err:
        catalog.get("liteagent/zzz")
    assert err.value.status_code == 404
    assert "liteagent/a, liteagent/b" in err.value.message
