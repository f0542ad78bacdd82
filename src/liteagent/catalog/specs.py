"""Spec types of the catalog: what a virtual model ``liteagent/<name>`` is made of.

An entry's ``kind`` selects its spec. Every spec shares ``BaseSpec``; kinds are added to
``ModelSpec`` as the engine grows.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from liteagent.catalog.providers import ModelChainSpec

MODEL_PREFIX = "liteagent/"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class BaseSpec(BaseModel):
    """Fields every catalog entry has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Set from the catalog key; the model is liteagent/<name>.")
    description: str = ""
    model: str | ModelChainSpec | None = Field(
        None,
        description="<provider>/<model>, a fallback chain (inline, or the name of one in the "
        "providers section); defaults to LITEAGENT_DEFAULT_MODEL.",
    )
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)
    input_cost_per_token: float | None = Field(None, ge=0.0)
    output_cost_per_token: float | None = Field(None, ge=0.0)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(
                "must be lower-case letters, digits, '.', '_' or '-' (at most 64 characters)"
            )
        return value

    @field_validator("model")
    @classmethod
    def _provider_slash_model(
        cls, value: str | ModelChainSpec | None
    ) -> str | ModelChainSpec | None:
        # A bare name refers to a chain of the providers section (checked by the loader).
        if isinstance(value, str) and (value.startswith("/") or value.endswith("/")):
            raise ValueError("must be <provider>/<model>, e.g. 'local/smollm2'")
        return value

    @property
    def model_name(self) -> str:
        """The public model name, ``liteagent/<name>``."""
        return f"{MODEL_PREFIX}{self.name}"


class AgentSpec(BaseSpec):
    """A chat agent: a system prompt in front of an LLM."""

    kind: Literal["agent"] = "agent"
    system_prompt: str = Field(min_length=1)


ModelSpec = Annotated[AgentSpec, Field(discriminator="kind")]
