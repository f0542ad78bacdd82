"""A server speaking the OpenAI embeddings wire format (``POST /v1/embeddings``), as OpenAI and
NVIDIA's NIM both do. Vectors are deterministic functions of the text; requests are recorded."""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def fake_vector(text: str, dimension: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [((digest[i % 32] + i) % 17) / 17.0 for i in range(dimension)]


class EmbeddingsWireServer:
    def __init__(self, dimension: int = 1536, key: str = "sk-embed-test-key-0001") -> None:
        self.dimension = dimension
        self.key = key
        self.requests: list[dict[str, Any]] = []
        self.fail_with: int | None = None
        self.app = Starlette(routes=[Route("/v1/embeddings", self._embed, methods=["POST"])])

    async def _embed(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "headers": dict(request.headers)})
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return JSONResponse(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                    }
                },
                status_code=401,
            )
        if self.fail_with is not None:
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=self.fail_with)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dim = int(body.get("dimensions") or self.dimension)
        prefix = f"{body.get('input_type', '')}:" if body.get("input_type") else ""
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(prefix + text, dim)}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(len(t.split()) for t in inputs)
        return JSONResponse(
            {
                "object": "list",
                "data": list(reversed(data)),  # order by "index", not position
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
