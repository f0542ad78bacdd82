# syntax=docker/dockerfile:1
#
# LiteAgent: the LiteLLM proxy with the LiteAgent handler, the bundled offline model
# (SmolLM2-135M-Instruct in llama.cpp) and the offline embedder (all-MiniLM-L6-v2), so the image
# answers with no API key and no internet. The same image runs the Celery worker and beat
# (compose.yaml overrides the command).
#
#   docker build -t liteagent .
#   docker run --rm -p 8890:8890 -e LITELLM_MASTER_KEY=sk-change-me liteagent

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# Build stage: compilers, uv, the virtual environment and LiteLLM's Prisma client.
FROM ${PYTHON_IMAGE} AS builder

# llama-cpp-python is compiled here (a few minutes, once per dependency change).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir "uv>=0.8,<0.10"

# CMAKE_ARGS: a portable llama.cpp, using no instruction only the build machine's CPU has.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    CMAKE_ARGS="-DGGML_NATIVE=OFF" \
    PRISMA_HOME_DIR=/app/.prisma \
    PRISMA_BINARY_CACHE_DIR=/app/.prisma/binaries \
    PRISMA_NODEENV_CACHE_DIR=/app/.prisma/nodeenv \
    LITELLM_LOCAL_MODEL_COST_MAP=True

WORKDIR /app

# Dependencies first (cached while only the source changes); uv.lock is used when present.
COPY pyproject.toml uv.lock* ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-dev --no-install-project \
        --extra local --extra embeddings --extra pgvector --extra celery --extra pdf

COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-dev --no-editable \
        --extra local --extra embeddings --extra pgvector --extra celery --extra pdf

# LiteLLM's Prisma client (virtual keys, budgets, spend): generated against LiteLLM's own
# schema, with the Prisma engines and CLI it needs at run time kept in /app/.prisma.
RUN /app/.venv/bin/prisma generate \
        --schema "$(/app/.venv/bin/python -c 'import litellm.proxy, pathlib; print(pathlib.Path(litellm.proxy.__file__).parent / "schema.prisma")')"

# ---------------------------------------------------------------------------------------------
# Runtime stage: the virtual environment, the proxy layout, a non-root user.
FROM ${PYTHON_IMAGE} AS runtime

# libgomp1: llama.cpp's OpenMP runtime.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 liteagent \
    && useradd --system --uid 10001 --gid liteagent --create-home --home-dir /home/liteagent \
        --shell /usr/sbin/nologin liteagent \
    && mkdir -p /data \
    && chown liteagent:liteagent /data

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    PRISMA_HOME_DIR=/app/.prisma \
    PRISMA_BINARY_CACHE_DIR=/app/.prisma/binaries \
    PRISMA_NODEENV_CACHE_DIR=/app/.prisma/nodeenv \
    LITEAGENT_HOST=0.0.0.0 \
    LITEAGENT_PORT=8890 \
    LITEAGENT_DATABASE_URL=sqlite+aiosqlite:////data/liteagent.db \
    LITEAGENT_KNOWLEDGE_DIR=/data/knowledge

WORKDIR /app

COPY --from=builder --chown=liteagent:liteagent /app/.venv /app/.venv
COPY --from=builder --chown=liteagent:liteagent /app/.prisma /app/.prisma
# The layout LiteLLM expects: the stub next to proxy_config.yaml, the catalog beside them, and
# the README and docs/ that the demo `docs` RAG agent ingests.
COPY --chown=liteagent:liteagent custom_handler.py proxy_config.yaml liteagent.yaml README.md ./
COPY --chown=liteagent:liteagent docs ./docs
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8890

HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/liveliness' % os.environ.get('LITEAGENT_PORT', '8890'), timeout=4)"]

# Migrates LiteAgent's database, then runs the command.
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["liteagent", "serve"]
