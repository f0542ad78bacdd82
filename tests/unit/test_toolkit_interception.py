"""Credential recognition, scrubbing, revoke words, the in-memory store and redaction."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from liteagent.catalog import parse_catalog
from liteagent.config import Settings
from liteagent.errors import CatalogError
from liteagent.proxy.context import RequestContext
from liteagent.redaction import redact_text, register_secret
from liteagent.security import EncryptionService
from liteagent.toolkits import (
    REMOVED,
    GitLabConfig,
    GoogleDriveConfig,
    JiraConfig,
    MemoryCredentialBackend,
    TokenStorage,
    ToolkitGate,
    scrub_messages,
)

SETTINGS = Settings(encryption_key=Fernet.generate_key().decode())


def storage() -> TokenStorage:
    return TokenStorage(MemoryCredentialBackend(), EncryptionService(Fernet.generate_key()))


def configs(store: TokenStorage) -> dict[str, Any]:
    return {
        cls.name: cls(settings=SETTINGS, storage=store)
        for cls in (JiraConfig, GitLabConfig, GoogleDriveConfig)
    }


@pytest.mark.parametrize(
    ("toolkit", "message", "secret"),
    [
        (
            "jira",
            "my jira token is ATATT3xFfGF0abcdefghijklmnopqrstu",
            "ATATT3xFfGF0abcdefghijklmnopqrstu",
        ),
        ("jira", "Jira: token: NjQ5MjY0NTQ5NjQ4OkFsaWNlU2Vj", "NjQ5MjY0NTQ5NjQ4OkFsaWNlU2Vj"),
        ("gitlab", "use glpat-Ab3dEf6hIj9kLm2nOp5q please", "glpat-Ab3dEf6hIj9kLm2nOp5q"),
        ("gdrive", "code 4/0AeaYSHBxxxxxxxxxxxxxxxx", "4/0AeaYSHBxxxxxxxxxxxxxxxx"),
        ("gdrive", "http://localhost/?state=s&code=4/0Abcdefghijklmn&scope=x", "4/0Abcdefghijklmn"),
    ],
)
def test_each_toolkit_recognises_its_credentials(toolkit: str, message: str, secret: str) -> None:
    found = configs(storage())[toolkit].find_secrets(message)
    assert found == [secret]


def test_no_false_positives_on_ordinary_text() -> None:
    text = "The token bucket algorithm limits requests; see https://example.com/docs for 4/5 cases"
    for config in configs(storage()).values():
        assert config.find_secrets(text) == []


@pytest.mark.parametrize(
    ("message", "toolkit"),
    [
        ("revoke jira", "jira"),
        ("Please disconnect my GitLab", "gitlab"),
        ("forget google drive", "gdrive"),
        ("revoke gdrive", "gdrive"),
    ],
)
def test_revoke_requests(message: str, toolkit: str) -> None:
    by_name = configs(storage())
    assert by_name[toolkit].is_revoke_request(message)
    others = [c for n, c in by_name.items() if n != toolkit]
    assert not any(c.is_revoke_request(message) for c in others)
    assert not by_name[toolkit].is_revoke_request(f"how do I {message}?")


def test_scrub_handles_text_parts_and_longest_secret_first() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a glpat-XYZ and glpat-XYZ123"}]},
        {"role": "assistant", "content": "ok"},
    ]
    out = scrub_messages(messages, ["glpat-XYZ", "glpat-XYZ123"])
    assert out[0]["content"][0]["text"] == f"a {REMOVED} and {REMOVED}"
    assert messages[0]["content"][0]["text"].startswith("a glpat")  # input untouched


async def test_storage_holds_only_ciphertext_and_notifies() -> None:
    store = storage()
    seen: list[str] = []
    store.subscribe(seen.append)
    await store.upsert_token(user_id="u1", toolkit="jira", data={"token": "tok-123456789"})
    ((ciphertext, _),) = store.backend.rows.values()  # type: ignore[attr-defined]
    assert ciphertext.startswith("enc:v1:") and "tok-123456789" not in ciphertext
    assert await store.get_token(user_id="u1", toolkit="jira") == {"token": "tok-123456789"}
    assert await store.get_token(user_id="u2", toolkit="jira") is None
    assert await store.delete_token(user_id="u1", toolkit="jira")
    assert seen == ["u1", "u1"]


async def test_unreadable_credential_reads_as_not_configured() -> None:
    backend = MemoryCredentialBackend()
    old = TokenStorage(backend, EncryptionService(Fernet.generate_key()))
    await old.upsert_token(user_id="u", toolkit="jira", data={"token": "abcdefgh12345"})
    new = TokenStorage(backend, EncryptionService(Fernet.generate_key()))
    assert await new.get_token(user_id="u", toolkit="jira") is None


async def test_gate_scrubs_stored_values_wherever_they_reappear() -> None:
    store = storage()
    jira = configs(store)["jira"]
    await store.upsert_token(
        user_id="anonymous",
        toolkit="jira",
        data={"token": "oddly-shaped-secret-42", "base_url": "x"},
    )
    ctx = RequestContext(
        model="liteagent/rm",
        messages=[{"role": "user", "content": "it was oddly-shaped-secret-42, remember?"}],
    )
    result = await ToolkitGate([jira]).intercept(ctx)
    assert result.reply is None and result.configured == frozenset({"jira"})
    assert result.messages[0]["content"] == f"it was {REMOVED}, remember?"


def test_registered_secrets_are_masked_in_logs() -> None:
    register_secret("zq-unusual-shape-9f8e7d")
    assert redact_text("value zq-unusual-shape-9f8e7d here") == "value *** here"
    assert redact_text("ATATT3xFfGF0abcdefghijklmnopqrstu") == "***"


def test_catalog_agno_entry_validates_toolkits() -> None:
    catalog = parse_catalog(
        {
            "models": {
                "rm": {
                    "kind": "agno",
                    "instructions": "x",
                    "toolkits": ["jira", {"name": "gdrive", "required": True}],
                }
            }
        }
    )
    spec = catalog.get("rm")
    assert spec.kind == "agno" and [t.name for t in spec.toolkits] == ["jira", "gdrive"]
    with pytest.raises(
        CatalogError, match="unknown toolkit 'slack'; available: gdrive, gitlab, jira"
    ):
        parse_catalog(
            {"models": {"rm": {"kind": "agno", "instructions": "x", "toolkits": ["slack"]}}}
        )
    with pytest.raises(CatalogError, match="instructions"):
        parse_catalog({"models": {"rm": {"kind": "agno"}}})


@pytest.mark.parametrize(
    "message", ["see http://[", "http://[::1 is IPv6", "http://[x]/?code=4/0Ab"]
)
def test_a_broken_url_in_a_message_is_not_a_crash(message: str) -> None:
    for config in configs(storage()).values():
        assert config.find_secrets(message) == []
