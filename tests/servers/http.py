"""Run an ASGI app on 127.0.0.1:<free port> in a background thread (stops with the context).

``host`` may be another loopback address (``127.0.0.2``) when a test needs a second host.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_app(app: Any, host: str = "127.0.0.1", *, lifespan: str = "off") -> Iterator[str]:
    """Serve ``app``; yields its base URL (``http://127.0.0.1:<port>``).

    ``lifespan="on"`` runs the app's start-up and shut-down (an app that closes its database).
    """
    if not host.startswith("127."):
        raise ValueError("test servers listen on loopback addresses only")
    port = free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan=lifespan)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test HTTP server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
