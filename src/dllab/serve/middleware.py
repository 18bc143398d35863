"""ASGI middleware: the request body limit, and request counts and latencies for /metrics.

Pure ASGI (not Starlette's BaseHTTPMiddleware) so a refused body is never read past the limit
and the timings include everything the app does.
"""

from __future__ import annotations

import json
import time
from typing import Any

from dllab.serve.metrics import ServeMetrics

PATHS = ("/predict", "/feedback", "/health", "/ready", "/metrics", "/admin/reload")


async def _send_json(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Answers 413 to a body over `max_bytes`, announced (Content-Length) or streamed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self, size: int | str) -> str:
        return f"request body is {size} bytes, over the limit of {self.max_bytes}; send a smaller image"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await _send_json(send, 413, self._too_large(int(length)))
        chunks, size, more = [], 0, True
        while more:  # read the body (bounded) now, then replay it to the app
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await _send_json(send, 413, self._too_large(f"over {size}"))
            more = message.get("more_body", False)
        body, sent = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # the disconnect, after the body

        await self.app(scope, replay, send)


class Timing:
    """Counts every request by path and status, and times it."""

    def __init__(self, app: Any, metrics: ServeMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"] if scope["path"] in PATHS else "other"
        start, status = time.perf_counter(), 500

        async def send_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        predict = path == "/predict"
        if predict:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            if predict:
                self.metrics.in_flight.dec()
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)
