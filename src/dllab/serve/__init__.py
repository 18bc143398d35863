"""`dllab serve`: a run's model behind an HTTP API (FastAPI + uvicorn).

One file per concern: `schemas` (request and response bodies), `inputs` (bytes and pixel
lists to the model's tensors), `backends` (PyTorch or ONNX Runtime), `batcher` (dynamic
micro-batching), `ab` (traffic split, shadow mode and the assignment log), `report`
(`dllab ab report`), `metrics` (Prometheus), `app` (the endpoints) and `server` (checks,
then uvicorn).
"""
