"""`dllab serve`: check everything a user can get wrong, load the models, then run uvicorn.

Checks come first so each mistake is one line and exit 2 (a missing run folder, a task not
served yet, a port in use), never a traceback from inside the server. uvicorn handles
SIGTERM and Ctrl-C gracefully: it stops accepting connections, waits (up to
`drain_seconds`) for the requests in flight, then the app's lifespan drains the batchers.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from pathlib import Path

from dllab.errors import InputError
from dllab.serve.ab import parse_split
from dllab.serve.app import ServeConfig, build_app, load_variants

__all__ = ["check_port", "serve"]


def check_port(host: str, port: int) -> None:
    """InputError if `host:port` cannot be listened on (in use, or not this machine's)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(
                    f"port {port} on {host} is in use; choose another with --port"
                ) from exc
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def serve(
    runs: list[Path],
    *,
    split: str | None = None,
    shadow: bool = False,
    backend: str = "torch",
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch_size: int = 32,
    max_latency_ms: float = 2.0,
    max_body_kb: int = 4096,
    ab_log: Path | None = None,
    drain_seconds: float = 30.0,
    echo: Callable[[str], None] = print,
    open_page: bool = False,
) -> None:
    """Serve `runs` (one, or several as A/B variants) until SIGTERM or Ctrl-C; `open_page`
    opens the demo page in the user's browser once the server listens."""
    import uvicorn

    if shadow and len(runs) < 2:
        raise InputError("--shadow needs two or more runs: the first answers, the others shadow it")
    if shadow and split is not None:
        raise InputError("--shadow sends every request to all runs; drop --split")
    shares = parse_split(split, len(runs)) if not shadow else [1.0] + [0.0] * (len(runs) - 1)
    check_port(host, port)
    config = ServeConfig(
        runs=runs,
        shares=shares,
        shadow=shadow,
        backend=backend,
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
        max_body_bytes=max_body_kb * 1024,
        ab_log=ab_log,
    )
    variants = load_variants(config)
    app = build_app(config, variants)
    for (name, v), share in zip(variants.items(), shares, strict=True):
        role = "shadow" if shadow and name != "A" else f"{share:.0%} of traffic"
        echo(f"variant {name}: {v.run_dir} ({v.meta['model']}, {role})")
    url = f"http://{host}:{port}"
    echo(f"serving on {url} (demo page at {url}/, API docs at {url}/docs); Ctrl-C or SIGTERM stops")
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=drain_seconds,
        )
    )
    if open_page:
        import threading
        import webbrowser

        def _open() -> None:  # once uvicorn listens, or not at all
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                webbrowser.open(url + "/")

        threading.Thread(target=_open, daemon=True).start()
    server.run()
