"""The FastAPI app: /predict, /feedback, /health, /ready, /metrics, /admin/reload, /docs, and a
demo page at / (with /info, what the page needs to know of the model).

Models are loaded before the app is built (a bad run folder fails the command, not the first
request); the lifespan starts one micro-batcher per variant and, at shutdown, drains them:
uvicorn first stops accepting connections and waits for the requests in flight, and those
requests are waiting on the batchers. `/admin/reload` loads the run folders again (a newer
best checkpoint) beside the old models, swaps them in between two requests and then drains
the old batchers, so no request is dropped or refused while it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from dllab.errors import DllabError, InputError
from dllab.serve.ab import AbLog, Router
from dllab.serve.backends import Backend, load_backend
from dllab.serve.batcher import MicroBatcher
from dllab.serve.inputs import HANDLERS, ImageInputs, TextInputs
from dllab.serve.metrics import ServeMetrics
from dllab.serve.middleware import BodyLimit, Timing
from dllab.serve.schemas import (
    FeedbackRequest,
    FeedbackResponse,
    ImageRequest,
    ModelInfo,
    PredictResponse,
)

__all__ = ["ServeConfig", "build_app", "load_variants"]

DEMO_PAGE = Path(__file__).parent / "static" / "demo.html"
TASKS = tuple(HANDLERS)  # tasks served so far: image and text classification


@dataclass
class ServeConfig:
    runs: list[Path]  # run folders; the first is variant A (the control)
    shares: list[float]  # traffic share of each run (sums to 1)
    shadow: bool = False  # A answers everything; the others are scored but not returned
    backend: str = "torch"  # "torch" or "onnx" (ONNX Runtime on the run's export)
    max_batch_size: int = 32  # a batch is flushed when it holds this many inputs...
    max_latency_ms: float = 2.0  # ...or when its oldest input has waited this long
    max_body_bytes: int = 4 * 2**20  # larger request bodies get a 413
    ab_log: Path | None = None  # JSONL log of assignments and feedback (None: not written)


@dataclass
class Variant:
    name: str
    run_dir: Path
    meta: dict[str, Any]
    backend: Backend
    inputs: ImageInputs | TextInputs
    batcher: MicroBatcher | None = None


@dataclass
class _State:
    variants: dict[str, Variant] = field(default_factory=dict)
    ready: bool = False
    shadow_tasks: set[asyncio.Task] = field(default_factory=set)


def variant_names(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)]


def load_variants(config: ServeConfig) -> dict[str, Variant]:
    """Each run folder's model as a named variant; InputError for a task not served yet or
    variants that do not share their classes."""
    from dllab.train.checkpoint import load_checkpoint
    from dllab.train.run_dir import check_run_dir

    variants: dict[str, Variant] = {}
    for name, run in zip(variant_names(len(config.runs)), config.runs, strict=True):
        # The task first: another task's model may not even rebuild from these options.
        state = load_checkpoint(check_run_dir(run) / "checkpoints" / "best.safetensors")
        task = (state.get("meta") or {}).get("task", "classification")
        if task not in TASKS:
            raise InputError(
                f"{run} is a {task!r} run; `dllab serve` serves {', '.join(TASKS)} runs so far"
            )
        backend, meta = load_backend(run, config.backend)
        variants[name] = Variant(name, run, meta, backend, HANDLERS[task](meta))
    first = next(iter(variants.values()))
    for v in variants.values():
        if v.meta["classes"] != first.meta["classes"] or type(v.inputs) is not type(first.inputs):
            raise InputError(
                f"{v.run_dir} predicts other classes than {first.run_dir}; A/B variants must "
                "answer the same question"
            )
    return variants


def _validation_line(exc: RequestValidationError, fields: list[str]) -> str:
    """One clear sentence for the first thing wrong with a request body."""
    errors = exc.errors()
    # An unknown field first: it usually explains why a required one is missing.
    err = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
    loc = [str(p) for p in err.get("loc", ()) if p != "body"]
    where = ".".join(loc)
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown field {where!r}; valid fields: {', '.join(fields)} (see /docs)"
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    if kind == "missing":
        return f"field {where!r} is required" if where else "a JSON body is required"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def _start(variants: dict[str, Variant], config: ServeConfig, metrics: ServeMetrics) -> None:
    for v in variants.values():

        def on_batch(size: int, seconds: float, name: str = v.name) -> None:
            metrics.batch_size.labels(name).observe(size)
            metrics.model_seconds.labels(name).observe(seconds)

        v.batcher = MicroBatcher(
            v.backend, config.max_batch_size, config.max_latency_ms, on_batch, v.inputs.collate
        )
        v.batcher.start()


async def _drain(variants: dict[str, Variant]) -> None:
    for v in variants.values():
        if v.batcher is not None:
            await v.batcher.close()


def _top_k(logits: np.ndarray, classes: list[str], k: int) -> tuple[list[str], list[float]]:
    p = np.exp(logits - logits.max())
    p /= p.sum()
    idx = np.argsort(-p)[: min(k, len(p))]
    return [classes[i] for i in idx], [float(p[i]) for i in idx]


def build_app(config: ServeConfig, variants: dict[str, Variant]) -> FastAPI:
    """The app serving `variants` (from `load_variants`) as `config` says."""
    state = _State(variants=variants)
    metrics = ServeMetrics()
    names = list(variants)
    router = Router(names, config.shares, config.shadow)
    log = AbLog(config.ab_log)
    reload_lock = asyncio.Lock()
    schema = variants[names[0]].inputs.schema  # what /predict takes: an image or a text

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _start(state.variants, config, metrics)
        state.ready = True
        yield
        state.ready = False  # uvicorn has waited for the requests in flight
        await asyncio.gather(*state.shadow_tasks)
        await _drain(state.variants)
        log.close()

    app = FastAPI(
        title="dllab serve",
        description="Image and text classification from dllab run folders, with A/B testing.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(Timing, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = list(schema.model_fields) if request.url.path == "/predict" else ["id", "label"]
        return JSONResponse({"detail": _validation_line(exc, fields)}, status_code=422)

    @app.exception_handler(InputError)
    async def _bad_input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    async def _shadow(name: str, fut: asyncio.Future, rid: str, key: str) -> None:
        logits = await fut
        label = _top_k(logits, state.variants[name].meta["classes"], 1)[0][0]
        metrics.predictions.labels(name, "shadow").inc()
        log.assigned(rid, key, name, label, shadow=True)

    async def predict(req: Any) -> PredictResponse:
        """Classify one input; the variant that answers depends on `key` (sticky)."""
        start = asyncio.get_running_loop().time()
        rid = uuid.uuid4().hex
        key = req.key or rid
        served, shadows = router.assign(key)
        variants = state.variants  # one snapshot: a reload swaps the whole dict
        inputs = {n: variants[n].inputs.encode(req) for n in (served, *shadows)}
        # No await between the snapshot and the submits: a reload cannot drain a batcher
        # between our choosing it and queueing on it.
        futures = {n: variants[n].batcher.submit(x) for n, x in inputs.items()}  # type: ignore[union-attr]
        for n in shadows:
            task = asyncio.create_task(_shadow(n, futures[n], rid, key))
            state.shadow_tasks.add(task)
            task.add_done_callback(state.shadow_tasks.discard)
        logits = await futures[served]
        labels, scores = _top_k(logits, variants[served].meta["classes"], req.top_k)
        metrics.predictions.labels(served, "served").inc()
        log.assigned(rid, key, served, labels[0], shadow=False)
        ms = (asyncio.get_running_loop().time() - start) * 1000
        return PredictResponse(id=rid, variant=served, labels=labels, scores=scores, latency_ms=ms)

    # The body schema is the served task's (image or text), known only now: /docs shows it.
    predict.__annotations__["req"] = schema
    app.post("/predict", response_model=PredictResponse)(predict)

    @app.post("/feedback", response_model=FeedbackResponse)
    async def feedback(req: FeedbackRequest) -> Any:
        """The true label of an earlier request (its `id`), when it becomes known."""
        classes = state.variants[names[0]].meta["classes"]
        if req.label not in classes:
            raise InputError(
                f"label {req.label!r} is not a class of this model: {', '.join(classes)}"
            )
        right = log.feedback(req.id, req.label)
        if right is None:
            return JSONResponse(
                {
                    "detail": f"no recent prediction has id {req.id!r}; send the id /predict returned"
                },
                status_code=404,
            )
        for variant, ok in right.items():
            metrics.outcomes.labels(variant, "correct" if ok else "wrong").inc()
        return FeedbackResponse(id=req.id, variants=right)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> Response:
        """Readiness: models loaded and batchers running (503 before and while shutting down)."""
        body = {
            "ready": state.ready,
            "variants": {n: str(v.run_dir) for n, v in state.variants.items()},
            "shares": dict(zip(names, config.shares, strict=True)),
            "shadow": config.shadow,
            "backend": config.backend,
        }
        return JSONResponse(body, status_code=200 if state.ready else 503)

    @app.get("/metrics")
    async def metrics_() -> Response:
        """Prometheus text: requests, latencies, batch sizes, per-variant outcomes."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def demo_page() -> HTMLResponse:
        """The demo page: one self-contained HTML file, nothing fetched from elsewhere."""
        return HTMLResponse(DEMO_PAGE.read_text(encoding="utf-8"))

    @app.get("/info", response_model=ModelInfo)
    async def info() -> ModelInfo:
        """What the served model takes and answers (the demo page builds itself from this)."""
        meta = state.variants[names[0]].meta
        return ModelInfo(
            task=meta["task"],
            model=meta["model"],
            input="image" if schema is ImageRequest else "text",
            classes=list(meta["classes"]),
            variants={n: str(v.run_dir) for n, v in state.variants.items()},
        )

    @app.post("/admin/reload")
    async def reload() -> dict[str, Any]:
        """Load the run folders again and swap the models in without refusing a request."""
        async with reload_lock:
            try:
                fresh = await asyncio.to_thread(load_variants, config)
            except DllabError as exc:
                raise InputError(f"reload failed, the old models keep serving: {exc}") from exc
            _start(fresh, config, metrics)
            old, state.variants = state.variants, fresh
            await _drain(old)
        return {"reloaded": {n: str(v.run_dir) for n, v in fresh.items()}}

    return app
