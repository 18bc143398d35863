"""`dllab serve` of one run, A/B split with B: predictions, 4xx errors, batching, metrics,
feedback and reload, against a real server process."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from dllab.experiment import load_trained
from dllab.tasks.classification import predict_images

from .conftest import B_CLASS, digit, png_b64, start_server

pytestmark = pytest.mark.xdist_group("serve")

LATENCY_MS = 150  # the batch window of the server below


@pytest.fixture(scope="module")
def server(serve_runs):
    a, b = serve_runs
    s = start_server(
        str(a),
        str(b),
        "--split",
        "0.5",
        "--max-batch-size",
        "8",
        "--max-latency-ms",
        str(LATENCY_MS),
        "--max-body-kb",
        "16",
        "--ab-log",
        "ab.jsonl",
        cwd=a.parent.parent,
    )
    yield s
    s.stop()


def key_for(variant: str) -> str:
    """A request key the 50/50 router sends to `variant`."""
    from dllab.serve.ab import Router

    router = Router(["A", "B"], [0.5, 0.5])
    return next(f"user-{i}" for i in range(100) if router.assign(f"user-{i}")[0] == variant)


def test_predict_gives_the_runs_own_label_from_png_or_pixels(server, serve_runs, tmp_path):
    a, _ = serve_runs
    pixels = digit(0)
    from PIL import Image

    Image.fromarray(pixels).save(tmp_path / "d.png")
    model, meta = load_trained(a)
    expected = predict_images(model, meta, [str(tmp_path / "d.png")], top_k=3)[0]
    with server.client() as c:
        for body in ({"image": png_b64(pixels)}, {"pixels": pixels.tolist()}):
            r = c.post("/predict", json={**body, "key": key_for("A")})
            assert r.status_code == 200, r.text
            got = r.json()
            assert got["variant"] == "A"
            assert got["labels"] == expected.labels
            assert np.allclose(got["scores"], expected.scores, atol=1e-5)
        b = c.post("/predict", json={"pixels": pixels.tolist(), "key": key_for("B")}).json()
    assert b["variant"] == "B" and b["labels"][0] == str(B_CLASS)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"pixels": [[0, 1], [2, 3]]}, 422, "has shape (2, 2); this model takes (8, 8)"),
        ({"pixels": [[0] * 8] * 7 + [[0] * 7]}, 422, "rows have different lengths"),
        ({"pixels": [[300] * 8] * 8}, 422, "within 0..255"),
        ({"image": "aGVsbG8gd29ybGQ="}, 422, "not a PNG or JPEG file"),
        ({"image": "not base64!"}, 422, "not valid base64"),
        ({"image": png_b64(digit(0)), "colour": "red"}, 422, "unknown field 'colour'"),
        ({}, 422, "give exactly one of 'image'"),
        ({"pixels": [[0] * 8] * 8, "top_k": 0}, 422, "top_k"),
        ({"image": "A" * 40_000}, 413, "over the limit of 16384"),
    ],
    ids=[
        "shape",
        "ragged",
        "range",
        "bad-bytes",
        "bad-base64",
        "unknown-field",
        "empty",
        "top-k",
        "too-large",
    ],
)
def test_bad_input_is_a_4xx_with_a_clear_message(server, body, status, says):
    r = httpx.post(server.url + "/predict", json=body)
    assert r.status_code == status
    assert says in r.json()["detail"]


def test_body_that_is_not_json_is_a_422(server):
    r = httpx.post(
        server.url + "/predict", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]


def test_concurrent_requests_share_batches(server):
    before = server.metric('dllab_batch_size_count{variant="A"}')
    body = {"pixels": digit(1).tolist(), "key": key_for("A")}
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda _: httpx.post(server.url + "/predict", json=body, timeout=30).status_code,
                range(8),
            )
        )
    assert codes == [200] * 8
    batches = server.metric('dllab_batch_size_count{variant="A"}') - before
    assert 1 <= batches < 8  # 8 requests in fewer model calls: some batch held > 1


def test_a_lone_request_waits_about_the_batch_window(server):
    body = {"pixels": digit(2).tolist(), "key": key_for("A")}
    with server.client() as c:
        c.get("/health")  # connection open: time the request, not the handshake
        start = time.perf_counter()
        r = c.post("/predict", json=body)
        seconds = time.perf_counter() - start
    assert r.status_code == 200
    assert LATENCY_MS / 1000 * 0.9 <= seconds < LATENCY_MS / 1000 + 1.0


def test_health_ready_docs_and_metrics(server):
    with server.client() as c:
        assert c.get("/health").json() == {"status": "ok"}
        ready = c.get("/ready").json()
        assert ready["ready"] and ready["shares"] == {"A": 0.5, "B": 0.5}
        assert c.get("/docs").status_code == 200
        assert "/predict" in c.get("/openapi.json").json()["paths"]
        c.post("/predict", json={"pixels": digit(3).tolist()})
        metrics = c.get("/metrics").text
    for name in (
        "dllab_requests_total",
        "dllab_request_latency_seconds_bucket",
        "dllab_batch_size_bucket",
        "dllab_predictions_total",
    ):
        assert name in metrics
    assert server.metric('dllab_requests_total{path="/predict",status="200"}') >= 1


def test_assignment_is_sticky_per_key_and_both_variants_serve(server):
    with server.client() as c:
        seen = {}
        for i in range(12):
            variants = {
                c.post("/predict", json={"pixels": digit(4).tolist(), "key": f"k{i}"}).json()[
                    "variant"
                ]
                for _ in range(2)
            }
            assert len(variants) == 1  # the same key met the same variant
            seen[f"k{i}"] = variants.pop()
    assert set(seen.values()) == {"A", "B"}


def test_feedback_is_logged_and_counted_per_variant(server, serve_runs):
    log = serve_runs[0].parent.parent / "ab.jsonl"
    with server.client() as c:
        r = c.post("/predict", json={"pixels": digit(5).tolist(), "key": key_for("B")}).json()
        before = server.metric('dllab_feedback_total{outcome="correct",variant="B"}')
        fb = c.post("/feedback", json={"id": r["id"], "label": str(B_CLASS)})
        assert fb.status_code == 200 and fb.json()["variants"] == {"B": True}
        assert server.metric('dllab_feedback_total{outcome="correct",variant="B"}') == before + 1
        unknown = c.post("/feedback", json={"id": "nope", "label": "1"})
        assert unknown.status_code == 404 and "no recent prediction" in unknown.json()["detail"]
        bad = c.post("/feedback", json={"id": r["id"], "label": "cat"})
        assert bad.status_code == 422 and "not a class" in bad.json()["detail"]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert {
        "event": "assign",
        "id": r["id"],
        "variant": "B",
        "label": str(B_CLASS),
    }.items() <= next(x for x in records if x["id"] == r["id"] and x["event"] == "assign").items()
    assert any(
        x["event"] == "feedback" and x["id"] == r["id"] and x["label"] == str(B_CLASS)
        for x in records
    )


def test_reload_swaps_models_without_failing_a_request(server):
    body = {"pixels": digit(6).tolist()}
    with ThreadPoolExecutor(5) as pool:
        futures = [
            pool.submit(httpx.post, server.url + "/predict", json=body, timeout=30)
            for _ in range(4)
        ]
        reload = pool.submit(httpx.post, server.url + "/admin/reload", timeout=60)
        futures += [
            pool.submit(httpx.post, server.url + "/predict", json=body, timeout=30)
            for _ in range(4)
        ]
        assert reload.result().status_code == 200
        assert [f.result().status_code for f in futures] == [200] * 8
    assert set(reload.result().json()["reloaded"]) == {"A", "B"}
