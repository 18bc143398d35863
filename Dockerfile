# `dllab serve` in a container: CPU-only PyTorch, a non-root user, a health check.
#
#   docker build -t dllab-serve .
#   docker run -p 8000:8000 -v "$PWD/runs/fashion-mnist:/models/run:ro" dllab-serve
#
# The run folder (config.yaml, checkpoints/best.safetensors, …) is mounted at /models/run;
# the image holds code only. Two stages: the builder makes the wheel and a virtual
# environment with CPU torch (no CUDA libraries: a much smaller image); the runtime stage
# copies that environment onto a clean slim image without pip's caches or build tools.

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# ---------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch and torchvision first, from PyTorch's CPU wheel index, at the versions of
# constraints.txt; then dllab with its serving extra from PyPI (torch is already satisfied).
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
        torch==2.14.1 torchvision==0.29.1 \
 && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && pip install --no-cache-dir -c constraints.txt "$(ls /wheels/dllab-*.whl)[deploy]"

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1
# One torch thread per process: scale with replicas (one per core), not threads.
RUN groupadd --system --gid 10001 dllab \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/dllab dllab \
 && mkdir -p /models && chown dllab /models
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/dllab
VOLUME ["/models"]
EXPOSE 8000
# No curl in slim images: Python's urllib. urlopen raises (exit 1) on a refused connection,
# a timeout or an HTTP error status.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
# SIGTERM (docker stop) makes uvicorn drain the requests in flight before exiting.
STOPSIGNAL SIGTERM
CMD ["dllab", "serve", "/models/run", "--host", "0.0.0.0", "--port", "8000"]
