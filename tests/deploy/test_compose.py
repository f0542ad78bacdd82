"""compose.yaml checked statically: the Compose specification's JSON schema, then every
service, image, port, volume, healthcheck and environment variable against what the code reads.

The schema is the Compose Specification's ``schema/compose-spec.json`` (Apache-2.0, license
beside it), vendored so that the test needs no network.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from liteagent.config import Settings
from liteagent.tasks.celery_app import broker_url
from tests.deploy.support import (
    ROOT,
    InterpolationError,
    env_example,
    load_compose,
    variables_referenced,
)

SCHEMA = Path(__file__).with_name("compose-spec.json")
LITEAGENT_SERVICES = ("proxy", "proxy-2", "worker", "beat")
PROXY_SERVICES = ("proxy", "proxy-2")


def alias_choices(field: str) -> list[str]:
    """The environment variables a Settings field reads (upper-case spellings)."""
    alias = Settings.model_fields[field].validation_alias
    choices = getattr(alias, "choices", [alias])
    return [str(c) for c in choices if str(c).isupper()]


def settings_variables() -> set[str]:
    return {name for field in Settings.model_fields for name in alias_choices(field)}


# Settings whose defaults are wrong inside a container (loopback address, a SQLite file, a
# folder in the image, no broker…): compose must set each one for every LiteAgent service.
CONTAINER_SETTINGS = (
    "host",
    "port",
    "database_url",
    "pgvector_url",
    "knowledge_dir",
    "redis_url",  # also the Celery broker (LITEAGENT_CELERY_BROKER_URL defaults to it)
    "jobs_backend",
    "ollama_base_url",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """compose.yaml as `docker compose` sees it after `cp .env.example .env`."""
    return load_compose(env_example())


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    # The schema is really applied: a typo in a service key is caught.
    broken = json.loads(json.dumps(compose))
    broken["services"]["proxy"]["helthcheck"] = broken["services"]["proxy"].pop("healthcheck")
    assert list(validator.iter_errors(broken))


def test_env_example_is_complete_for_compose() -> None:
    text = (ROOT / "compose.yaml").read_text()
    example = env_example()
    # Every variable compose interpolates is documented in .env.example (set or commented).
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)
    )
    missing = sorted(variables_referenced(text) - documented)
    assert missing == [], f"compose.yaml uses variables .env.example does not document: {missing}"
    # `cp .env.example .env && docker compose up` works: every required one has a value.
    load_compose(example)
    # ...and without them compose refuses with a message naming the variable.
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "LITELLM_MASTER_KEY"):
        with pytest.raises(InterpolationError, match=f"{name}: set {name} in .env"):
            load_compose({k: v for k, v in example.items() if k != name})


def test_every_setting_is_documented_in_env_example() -> None:
    # .env is what compose hands the containers: every variable Settings reads is explained.
    text = (ROOT / ".env.example").read_text()
    undocumented = sorted(v for v in settings_variables() if not re.search(rf"\b{v}\b", text))
    assert undocumented == []


def test_no_secret_is_written_in_compose() -> None:
    raw = yaml.safe_load((ROOT / "compose.yaml").read_text())
    secretish = re.compile(r"(PASSWORD|SECRET|_KEY|TOKEN)$")

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and secretish.search(key) and isinstance(value, str):
                    assert value.startswith("${"), f"{path}.{key} is written in compose.yaml"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(raw, "compose")
    # URLs embed passwords only through variables.
    for url in re.findall(r"\w+(?:\+\w+)?://[^\s\"']+", (ROOT / "compose.yaml").read_text()):
        if "@" in url:
            assert re.search(r":\$\{[A-Z_]+[^}]*\}@", url), url


def test_services_images_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"proxy", "worker", "beat", "postgres", "valkey", "openwebui"} <= set(services)
    for name in LITEAGENT_SERVICES:
        assert services[name]["build"] == {"context": ".", "target": "runtime"}, name
        assert services[name]["image"] == services["proxy"]["image"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    assert services["valkey"]["image"].startswith("valkey/valkey:")
    # Open WebUI is built from its Python package, at the version the replay tests recorded
    assert services["openwebui"]["build"]["context"] == "deploy/openwebui"
    assert services["openwebui"]["build"]["args"]["OPENWEBUI_VERSION"] == "0.12.4"
    # Optional parts are profiles: `docker compose up` starts neither.
    assert services["ollama"]["profiles"] == ["ollama"]
    assert services["proxy-2"]["profiles"] == ["replica"]
    always = [n for n, s in services.items() if not s.get("profiles")]
    assert sorted(always) == ["beat", "openwebui", "postgres", "proxy", "valkey", "worker"]


def test_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    port = Settings.model_fields["port"].default
    for name in PROXY_SERVICES:
        (mapping,) = services[name]["ports"]
        assert mapping.rsplit(":", 1)[1] == str(port)
        assert _environment(services[name])["LITEAGENT_PORT"] == str(port)
    published = {s["ports"][0].split(":")[0] for s in services.values() if s.get("ports")}
    assert len(published) == len([s for s in services.values() if s.get("ports")])
    (webui,) = services["openwebui"]["ports"]
    assert webui.endswith(":8080")
    # Open WebUI talks to the proxy service on its port, with forwarded user headers.
    env = _environment(services["openwebui"])
    assert env["OPENAI_API_BASE_URL"] == f"http://proxy:{port}/v1"
    assert env["ENABLE_FORWARD_USER_INFO_HEADERS"] == "true"
    assert env["OPENAI_API_KEY"] == env_example()["LITELLM_MASTER_KEY"]
    assert "host.docker.internal:host-gateway" in services["openwebui"]["extra_hosts"]


def test_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used: set[str] = set()
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source, target = mount.split(":")[:2]
            if source.startswith("."):
                assert (ROOT / source).is_file(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
            assert target.startswith("/")
    assert used == declared
    mounts = {m.split(":")[1]: m.split(":")[0] for m in compose["services"]["postgres"]["volumes"]}
    assert mounts["/var/lib/postgresql/data"] == "postgres_data"
    init = mounts["/docker-entrypoint-initdb.d/10-liteagent.sql"]
    sql = (ROOT / init).read_text()
    assert "CREATE DATABASE liteagent" in sql and "CREATE EXTENSION IF NOT EXISTS vector" in sql
    # The proxy's data volume is where Settings point the knowledge bases and SQLite files.
    proxy_mounts = {m.split(":")[1] for m in compose["services"]["proxy"]["volumes"]}
    knowledge = _environment(compose["services"]["proxy"])["LITEAGENT_KNOWLEDGE_DIR"]
    assert any(knowledge.startswith(m + "/") for m in proxy_mounts)


def test_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule.get("condition") == "service_healthy":
                assert services[dependency].get("healthcheck"), dependency
    for name in PROXY_SERVICES:
        test = " ".join(services[name]["healthcheck"]["test"])
        port = Settings.model_fields["port"].default
        assert f"http://127.0.0.1:{port}/health/liveliness" in test
    assert "pg_isready -h 127.0.0.1" in " ".join(services["postgres"]["healthcheck"]["test"])
    worker = " ".join(services["worker"]["healthcheck"]["test"])
    assert "inspect ping -d worker@$HOSTNAME" in worker
    assert "worker@%h" in services["worker"]["command"]


def _known_external_variables() -> set[str]:
    """Variables the containers read that are not LiteAgent Settings: each is checked to be
    read by the code that runs there (LiteLLM, our CLI, proxy_config.yaml)."""
    import litellm

    litellm_dir = Path(litellm.__file__).parent
    proxy_cli = (litellm_dir / "proxy" / "proxy_cli.py").read_text()
    cost_map = (litellm_dir / "litellm_core_utils" / "get_model_cost_map.py").read_text()
    ours = (ROOT / "src" / "liteagent" / "cli.py").read_text()
    proxy_config = (ROOT / "proxy_config.yaml").read_text()
    known = set()
    if 'os.getenv("DATABASE_URL")' in proxy_cli:
        known.add("DATABASE_URL")
    if "LITELLM_LOCAL_MODEL_COST_MAP" in cost_map:
        known.add("LITELLM_LOCAL_MODEL_COST_MAP")
    if "os.environ/LITELLM_MASTER_KEY" in proxy_config and "LITELLM_MASTER_KEY" in ours:
        known.add("LITELLM_MASTER_KEY")
    return known


def test_environment_matches_what_the_code_reads(compose: dict[str, Any]) -> None:
    services = compose["services"]
    readable = settings_variables() | _known_external_variables()
    for name in LITEAGENT_SERVICES:
        env = _environment(services[name])
        unknown = sorted(set(env) - readable)
        assert unknown == [], f"{name} sets variables nothing reads: {unknown}"
        for field in CONTAINER_SETTINGS:
            choices = alias_choices(field)
            assert set(choices) & set(env), f"{name} lacks {' or '.join(choices)} ({field})"
        settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
        assert settings.host == "0.0.0.0"
        assert settings.database_url.startswith("postgresql+psycopg://")
        assert settings.database_url.endswith("@postgres:5432/liteagent")
        assert settings.pgvector_url is not None
        assert settings.pgvector_url.get_secret_value().startswith("postgresql://")
        assert broker_url(settings) == f"redis://:{env_example()['REDIS_PASSWORD']}@valkey:6379/0"
        assert settings.jobs_backend == "celery"
        assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    for name in PROXY_SERVICES:
        env = _environment(services[name])
        # LiteLLM's own database: a plain postgresql:// URL to a different database.
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert env["DATABASE_URL"].endswith("@postgres:5432/litellm")
        assert env["LITELLM_MASTER_KEY"] == env_example()["LITELLM_MASTER_KEY"]
    for name in ("worker", "beat"):
        assert "DATABASE_URL" not in _environment(services[name])
        assert "LITELLM_MASTER_KEY" not in _environment(services[name])
    # Postgres' own user and database are the ones the URLs name.
    pg = _environment(services["postgres"])
    assert pg["POSTGRES_DB"] == "litellm"
    url = _environment(services["proxy"])["LITEAGENT_DATABASE_URL"]
    assert url.startswith(f"postgresql+psycopg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@")


def test_env_file_values_that_are_wrong_in_a_container_are_overridden(
    compose: dict[str, Any],
) -> None:
    # Every LiteAgent service also loads .env; compose's `environment` wins over it, so each
    # host-only value of .env.example (127.0.0.1, ./liteagent.db…) must be overridden.
    example = env_example()
    # Addresses a browser opens, not ones the container connects to.
    browser_side = {"GOOGLE_OAUTH_REDIRECT_URI"}
    for name in LITEAGENT_SERVICES:
        assert compose["services"][name]["env_file"] == [{"path": ".env", "required": False}]
        env = _environment(compose["services"][name])
        for key, value in example.items():
            host_only = "127.0.0.1" in value or "localhost" in value or value.startswith(".")
            host_only = host_only or value.startswith("sqlite")
            if host_only and key in settings_variables() - browser_side:
                assert key in env, f"{name}: .env's {key}={value} would apply in the container"


def test_celery_services_run_the_liteagent_app(compose: dict[str, Any]) -> None:
    from liteagent.tasks.celery_app import create_celery_app
    from liteagent.tasks.definitions import JOBS

    services = compose["services"]
    settings = Settings(_env_file=None, **_environment(services["worker"]))  # type: ignore[call-arg]
    app = create_celery_app(settings)
    assert {f"liteagent.{n}" for n in JOBS} <= set(app.tasks)
    worker = services["worker"]["command"]
    assert worker[:4] == ["celery", "-A", "liteagent.tasks.celery_app", "worker"]
    assert worker[worker.index("-Q") + 1] == app.conf.task_default_queue
    beat = services["beat"]["command"]
    assert beat[:4] == ["celery", "-A", "liteagent.tasks.celery_app", "beat"]
    schedule_file = beat[beat.index("--schedule") + 1]
    (beat_volume,) = services["beat"]["volumes"]
    assert schedule_file.startswith(beat_volume.split(":")[1] + "/")
    assert schedule_file in " ".join(services["beat"]["healthcheck"]["test"]).replace("*", "")
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "liteagent.refresh_all_datasources" in scheduled
    assert scheduled <= set(app.tasks)
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost


def test_second_replica_is_the_proxy_on_another_port(compose: dict[str, Any]) -> None:
    one, two = compose["services"]["proxy"], compose["services"]["proxy-2"]
    assert {k: v for k, v in one.items() if k != "ports"} == {
        k: v for k, v in two.items() if k not in ("ports", "profiles")
    }
    assert one["ports"] != two["ports"]
