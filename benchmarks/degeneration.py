"""Degenerate loops of the bundled local model: before and after, side by side in one run.

Runs 20 fixed demo prompts (the ``liteagent/assistant`` agent with its real system prompt and
tool list, and the billing and technical desks of ``liteagent/triage``, with the temperatures
and token limits of the demo catalog) through ``LocalLlamaProvider`` in four ways, alternating
per prompt:

1. **before**: the prompt HTML-escaped as llama-cpp-python's ``chatml-function-calling``
   handler rendered it, the handler's sampling (temperature 0.2, top_p 0.95, repeat_penalty
   1.1 over the last 64 tokens) and no loop guard — what LiteAgent did before;
2. **old sampling, no guard**: the same with the exact prompt;
3. **new sampling, no guard**: LiteAgent's defaults (``Settings``: the model card's
   temperature 0.2 and top_p 0.9, repeat_penalty 1.1 and frequency_penalty 0.2 over the last
   128 tokens), to see what sampling alone does;
4. **new**: the new sampling and the loop guard — what LiteAgent does now.

It prints a markdown table: answers that ran into ``max_tokens``, answers that show a sentence
twice (case and punctuation ignored, 4 words or more), answers the guard ended, tokens generated
and seconds per answer. Every call samples with the same fixed seed (``--seeds 3`` repeats
the whole set with seeds 1, 2 and 3), so a second run prints the same table.

    uv run python benchmarks/degeneration.py [--seeds N] [--answers]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from markupsafe import escape
from structlog.testing import capture_logs

from liteagent.agents.builtin_tools import ToolContext
from liteagent.agents.prompts import AgentPrompts
from liteagent.catalog import AgentSpec, load_catalog
from liteagent.catalog.specs import WorkflowSpec
from liteagent.config import Settings
from liteagent.llm.base import ChatOptions, LLMMessage
from liteagent.llm.local import LocalLlamaProvider, Sampling
from liteagent.llm.loop_guard import LoopGuard
from liteagent.proxy.runners.agent import build_tools
from liteagent.storage import Database
from liteagent.storage.repositories import NoteRepository

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    temperature: float | None
    max_tokens: int | None


def _assistant_system_prompt(spec: AgentSpec) -> str:
    """The system prompt ``liteagent/assistant`` sends: its purpose and its tools."""
    database = Database("sqlite+aiosqlite:///:memory:")
    tools = build_tools(spec, ToolContext(owner="bench", notes=NoteRepository(database)))
    return AgentPrompts.system_prompt(spec.system_prompt or "", [t.get_definition() for t in tools])


def demo_prompts() -> tuple[Prompt, ...]:
    """The 20 prompts, with the demo catalog's system prompts and generation settings."""
    catalog = load_catalog(ROOT / "liteagent.yaml")
    assistant = catalog.get("assistant")
    triage = catalog.get("triage")
    assert isinstance(assistant, AgentSpec) and isinstance(triage, WorkflowSpec)
    nodes = triage.nodes
    assert isinstance(nodes, dict)

    def ask(user: str) -> Prompt:
        return Prompt(_assistant_system_prompt(assistant), user, assistant.temperature, None)

    def desk(node: str, user: str) -> Prompt:
        config = nodes[node]
        return Prompt(config["purpose"], user, None, config.get("max_tokens"))

    return (
        ask("Tell me about yourself"),
        ask("Explain what a LiteLLM proxy does"),
        ask("Thank you, that's great!"),
        # Loops come with length: most of the assistant's prompts ask for a longer answer.
        ask("Explain in detail how a LiteLLM proxy works."),
        ask("Describe the history of the internet."),
        ask("Write a detailed guide to starting a vegetable garden."),
        ask("Explain how vaccines work, step by step."),
        ask("What are the pros and cons of remote work? Give a thorough answer."),
        ask("Describe your ideal day."),
        ask("Explain the difference between machine learning and deep learning in detail."),
        ask("Write a story about a robot who learns to paint."),
        ask("Tell me everything you know about the Moon."),
        desk("billing_desk", "I was charged twice for my order, can I get a refund?"),
        desk("billing_desk", "Where can I download the invoice for my last payment?"),
        desk("billing_desk", "Why did the price of my subscription go up?"),
        desk("billing_desk", "My credit card payment was declined, what should I do?"),
        desk("tech_support", "The app crashes when I open my basket."),
        desk("tech_support", "I can't log in, it says my password is wrong."),
        desk("tech_support", "The website is very slow today."),
        desk("tech_support", "The install of the app failed on my phone."),
    )


OLD_SAMPLING = Sampling(
    temperature=0.2, top_p=0.95, repeat_penalty=1.1, frequency_penalty=0.0, penalty_last_n=64
)

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_NOT_WORD = re.compile(r"[^\w]+")


def repeats_a_sentence(text: str, min_words: int = 4) -> bool:
    """Whether a sentence of ``min_words`` words or more appears twice (case and punctuation
    ignored): what a reader sees as a loop, measured independently of the guard's rules."""
    seen: set[str] = set()
    for sentence in _SENTENCE_SPLIT.split(text):
        words = _NOT_WORD.sub(" ", sentence.lower()).split()
        if len(words) < min_words:
            continue
        key = " ".join(words)
        if key in seen:
            return True
        seen.add(key)
    return False


@dataclass(frozen=True)
class Variant:
    """One column: how the prompt is rendered, how the model samples, whether it is guarded."""

    name: str
    sampling: Sampling
    loop_guard: LoopGuard | None
    html_escaped: bool = False
    """Render the messages HTML-escaped, as llama-cpp-python's chat handler did."""


@dataclass
class Tally:
    variant: Variant
    hit_max_tokens: int = 0
    repeated: int = 0
    guard_stops: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    answers: list[str] = field(default_factory=list)


def variants(settings: Settings) -> tuple[Variant, ...]:
    """Before, the old settings, the new sampling alone, and the new settings."""
    new = LocalLlamaProvider.from_settings("smollm2", settings).sampling
    return (
        Variant("before: escaped prompt, old sampling", OLD_SAMPLING, None, html_escaped=True),
        Variant("old sampling, no guard", OLD_SAMPLING, None),
        Variant("new sampling, no guard", new, None),
        Variant("new: new sampling + guard", new, LoopGuard()),
    )


async def _run(
    provider: LocalLlamaProvider, variant: Variant, prompt: Prompt, tally: Tally
) -> None:
    system, user = prompt.system, prompt.user
    if variant.html_escaped:
        system, user = str(escape(system)), str(escape(user))
    messages = [LLMMessage("system", system), LLMMessage("user", user)]
    options = ChatOptions(temperature=prompt.temperature, max_tokens=prompt.max_tokens)
    started = time.perf_counter()
    with capture_logs() as logs:
        response = await provider.chat(messages, options)
    tally.seconds += time.perf_counter() - started
    tally.hit_max_tokens += response.finish_reason == "length"
    tally.repeated += repeats_a_sentence(response.content)
    tally.guard_stops += sum(1 for e in logs if e["event"] == "llm_loop_stopped")
    tally.completion_tokens += response.usage.completion_tokens
    tally.answers.append(
        f"({response.finish_reason}, {response.usage.completion_tokens} tokens)\n\n"
        + response.content
    )


def table(tallies: Sequence[Tally], n: int) -> str:
    """The results as a markdown table, one column per variant."""

    def share(count: int) -> str:
        return f"{count}/{n}"

    rows = [
        ("answers that hit max_tokens", [share(t.hit_max_tokens) for t in tallies]),
        ("answers with a repeated sentence", [share(t.repeated) for t in tallies]),
        ("answers ended by the loop guard", [share(t.guard_stops) for t in tallies]),
        ("tokens generated per answer", [f"{t.completion_tokens / n:.0f}" for t in tallies]),
        ("seconds per answer", [f"{t.seconds / n:.2f}" for t in tallies]),
    ]
    lines = [
        "| | " + " | ".join(t.variant.name for t in tallies) + " |",
        "|---|" + "---:|" * len(tallies),
    ]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines)


async def measure(
    columns: Sequence[Variant], prompts: Sequence[Prompt], settings: Settings, seeds: int = 1
) -> list[Tally]:
    """Run every prompt through every variant, alternating per prompt, once per seed."""
    tallies = [Tally(v) for v in columns]
    for seed in range(1, seeds + 1):
        providers = [
            LocalLlamaProvider.from_settings(
                "smollm2",
                settings,
                sampling=replace(v.sampling, seed=seed),
                loop_guard=v.loop_guard,
            )
            for v in columns
        ]
        for prompt in prompts:
            for provider, tally in zip(providers, tallies, strict=True):
                await _run(provider, tally.variant, prompt, tally)
    return tallies


async def main(seeds: int, show_answers: bool) -> None:
    settings = Settings()
    prompts = demo_prompts()
    columns = variants(settings)
    tallies = await measure(columns, prompts, settings, seeds)
    n = len(prompts) * seeds
    print(f"{len(prompts)} demo prompts x {seeds} seed(s), SmolLM2-135M-Instruct")
    print(f"new sampling: {columns[-1].sampling}\n")
    print(table(tallies, n))
    if show_answers:
        for i in range(n):
            print(f"\n### {prompts[i % len(prompts)].user} (seed {i // len(prompts) + 1})")
            for tally in tallies:
                print(f"\n**{tally.variant.name}** {tally.answers[i]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1, help="run the prompts once per seed")
    parser.add_argument("--answers", action="store_true", help="also print every answer")
    args = parser.parse_args()
    asyncio.run(main(args.seeds, args.answers))
