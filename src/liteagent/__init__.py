"""LiteAgent: agents, RAG agents and workflows served as models behind a LiteLLM proxy.

Importing any part of LiteAgent makes litellm use its bundled model price map, so that start-up
never reaches for the internet.
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
