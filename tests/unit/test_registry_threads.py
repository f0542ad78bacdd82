"""Entry points loaded from several threads at once: every caller sees them all."""

from __future__ import annotations

import threading

from liteagent.rag.embeddings import EmbeddingProvider
from liteagent.registry import ProviderRegistry


class _SlowRegistry(ProviderRegistry[EmbeddingProvider]):
    """Holds the first load open until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__("embedder", "liteagent.embedders")
        self.loading = threading.Event()
        self.proceed = threading.Event()

    def _load_entry_points(self, group: str, only: str | None = None) -> None:
        self.loading.set()
        self.proceed.wait(timeout=60)
        super()._load_entry_points(group, only)


def test_a_caller_arriving_during_the_first_load_waits_for_it() -> None:
    registry = _SlowRegistry()
    seen: dict[str, bool] = {}
    first = threading.Thread(target=lambda: seen.setdefault("first", registry.has("openai")))
    first.start()
    assert registry.loading.wait(timeout=60)
    second_started = threading.Event()

    def second() -> None:
        second_started.set()
        seen["second"] = registry.has("openai")

    other = threading.Thread(target=second)
    other.start()
    assert second_started.wait(timeout=60)
    registry.proceed.set()
    first.join(timeout=60)
    other.join(timeout=60)
    assert seen == {"first": True, "second": True}


def test_naming_one_plugin_imports_only_that_one() -> None:
    """A catalog naming the ``openai`` provider does not import the other providers' SDKs."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from liteagent.llm import llm_registry\n"
        "assert llm_registry.has('openai') and llm_registry.get_class('openai')\n"
        "print('liteagent.llm.anthropic_provider' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
