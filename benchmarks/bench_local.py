"""The bundled local model: tokens per second through LiteAgent's provider vs raw llama.cpp.

Run: ``uv run python benchmarks/bench_local.py [--rounds 2] [--tokens 96] [--quick]``.

The same prompt (a ChatML conversation, rendered once) is answered, in alternating rounds, by:

- ``LocalLlamaProvider.chat`` with its defaults (threads: every CPU available but one; its
  sampling and worker thread), and with as many threads as CPUs;
- ``llama_cpp.Llama.create_completion`` on the same GGUF file with the same sampling settings
  and as many threads as the provider's default, and as many as CPUs;
- the same with llama-cpp-python's default thread count (half the CPUs), which is what the
  provider used before it chose its own.

Each run is a process of its own (idle llama.cpp threads of another instance would compete for
the cores). Reported: generated tokens per second (the completion tokens each reports over the
wall time of the call, prompt included), median over the rounds, and the ratio to raw
llama.cpp.
Results go to ``benchmarks/results/local.{md,csv,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import save_summary, write

from liteagent.llm.base import ChatOptions, LLMMessage
from liteagent.llm.chatml import IM_END, render_prompt
from liteagent.llm.local import LocalLlamaProvider, Sampling, available_cpus, generation_threads

QUESTION = "Explain in a few sentences how a hash map works and when to use one."
SYSTEM = "You are a helpful assistant."


def _child(variant: str, tokens: int, rounds: int) -> None:
    """Generate ``rounds`` answers with one variant; print tokens/s of each, one per line."""
    from llama_cpp import Llama

    sampling = Sampling(seed=7)
    messages = [
        LLMMessage(role="system", content=SYSTEM),
        LLMMessage(role="user", content=QUESTION),
    ]
    provider = LocalLlamaProvider(
        n_ctx=2048,
        sampling=sampling,
        loop_guard=None,
        n_threads=available_cpus() if variant == "provider all" else None,
    )
    if variant.startswith("provider"):

        def call(most: int) -> int:
            answer = asyncio.run(provider.chat(messages, ChatOptions(max_tokens=most)))
            return answer.usage.completion_tokens
    else:
        threads = {"llama.cpp": generation_threads(), "llama.cpp all": available_cpus()}.get(
            variant
        )
        llama = Llama(model_path=str(provider.model_path), n_ctx=2048, n_threads=threads,
                      verbose=False)  # fmt: skip
        prompt = render_prompt([m.to_openai() for m in messages], [], offer_tools=False)

        def call(most: int) -> int:
            out = llama.create_completion(
                prompt, max_tokens=most, stop=[IM_END], **sampling.as_kwargs()
            )
            return int(out["usage"]["completion_tokens"])

    call(8)  # warm: load the model, evaluate the prompt once
    for _ in range(rounds):
        start = time.perf_counter()
        generated = call(tokens)
        print(f"tokens_per_second {generated / (time.perf_counter() - start)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--quick", action="store_true", help="1 round")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.child:
        _child(args.child, args.tokens, 2)
        return
    if args.quick:
        args.rounds = 1
    cpus = available_cpus()
    import llama_cpp

    half = max(1, cpus // 2)  # llama-cpp-python's default
    threads = generation_threads()
    names = {
        "provider": f"LiteAgent provider (default: {threads} threads)",
        "provider all": f"LiteAgent provider, {cpus} threads (all CPUs)",
        "llama.cpp": f"raw llama.cpp, {threads} threads",
        "llama.cpp all": f"raw llama.cpp, {cpus} threads (all CPUs)",
        "llama.cpp default": f"raw llama.cpp, its default threads ({half})",
    }
    rates: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(args.rounds):
        for variant in names:  # one process at a time: idle llama.cpp threads would compete
            # all CPUs generate so slowly on a busy machine that shorter answers must do
            tokens = (
                args.tokens if variant in ("provider", "llama.cpp", "llama.cpp default") else 32
            )
            out = subprocess.run(  # noqa: S603 - this script, by its own path
                [sys.executable, __file__, "--child", variant, "--tokens", str(tokens)],
                check=True, capture_output=True, text=True, env=os.environ.copy(),
            )  # fmt: skip
            rates[variant] += [
                float(line.split()[1])
                for line in out.stdout.splitlines()
                if line.startswith("tokens_per_second ")
            ]
    med = {k: statistics.median(v) for k, v in rates.items()}
    ref = med["llama.cpp"]
    rows = [[names[k], f"{v:.0f}", f"{v / ref:.2f}"] for k, v in med.items()]
    notes = f"""
SmolLM2-135M-Instruct (the bundled GGUF, llama-cpp-python {llama_cpp.__version__}). Answers of
up to {args.tokens} tokens (32 for the all-CPU runs), same sampling settings. Each run is its
own process (2 answers after a warm-up); {args.rounds} rounds, alternating. tokens/s: completion
tokens over the wall time of the call (prompt included), median. The ratio is against raw
llama.cpp with the provider's thread count ({threads}: every CPU but one, of {cpus}). The
provider generates in a worker thread and hands each piece to the event loop; its loop guard
is off here so both sides generate alike. On a machine whose cores are busy with other work,
llama.cpp's threads wait for each other: compare the ratios.
"""
    write("local", "P5: local model tokens/s, provider vs raw llama.cpp", ["run", "tokens/s",
          "ratio to llama.cpp"], rows, notes)  # fmt: skip
    ratio = med["provider"] / ref
    save_summary(
        "local",
        [{"part": "P5", "measure": "local model tokens/s, provider / raw llama.cpp",
          "value": round(med["provider"]), "reference": round(ref),
          "ratio": round(ratio, 2), "goal": "", "met": None}],
    )  # fmt: skip


if __name__ == "__main__":
    main()
