from liteagent.errors import LLMProviderError
from liteagent.redaction import redact_mapping, redact_text


def test_redacts_key_shapes_and_url_credentials() -> None:
    text = (
        "key sk-proj-abcdefghijklmnop at https://bob:hunter22@api.example.com/v1 "
        "with Authorization: Bearer abcdefghijklmnopqrstuv and api_key=supersecret1"
    )
    out = redact_text(text)
    for secret in (
        "sk-proj-abcdefghijklmnop",
        "hunter22",
        "abcdefghijklmnopqrstuv",
        "supersecret1",
    ):
        assert secret not in out
    assert "api.example.com/v1" in out


def test_mapping_masks_credential_keys_but_keeps_counters() -> None:
    out = redact_mapping(
        {
            "api_key": "x1234",
            "Authorization": "y",
            "max_tokens": 100,
            "prompt_tokens": 5,
            "nested": {"access_token": "abc"},
            "note": "glpat-abcdefghijklmnop",
        }
    )
    assert out["api_key"] == "***" and out["Authorization"] == "***"
    assert out["nested"]["access_token"] == "***"
    assert out["max_tokens"] == 100 and out["prompt_tokens"] == 5
    assert "glpat-abcdefghijklmnop" not in out["note"]


def test_provider_errors_never_carry_keys() -> None:
    err = LLMProviderError(
        "HTTP 401: Incorrect API key provided: sk-live-1234567890abcdef",
        provider="openai",
        model="gpt-4o-mini",
    )
    assert "openai/gpt-4o-mini" in err.message
    assert "sk-live-1234567890abcdef" not in err.message
