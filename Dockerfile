# pixcept: the web app and JSON API (gunicorn), the CLI and the jobs, in one image. CPU by default; for NVIDIA GPUs
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 -t pixcept:cuda .
# (and run it with the NVIDIA container toolkit: `gpus: all` in compose). docker-compose.yml uses this file.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# Where pip finds torch and torchvision: the CPU wheels (small) unless a CUDA index is given.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.5.1
ARG TORCHVISION_VERSION=0.20.1

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIXCEPT_DATA_DIR=/data \
    HF_HOME=/cache/huggingface \
    XDG_CACHE_HOME=/cache \
    NUMBA_CACHE_DIR=/cache/numba

# libgomp: OpenMP for torch, numba and hdbscan on the CPU. The emoji font and Unicode's emoji list (10 MB) let
# `pixcept demo --world emoji` run in the container.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 fonts-noto-color-emoji unicode-data \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"

WORKDIR /app
COPY pyproject.toml README.md ./
COPY indexer ./indexer
COPY server ./server
COPY web ./web
RUN pip install .

# A user of its own (never root); the data folder and the caches (model weights, numba's compiled code) are
# volumes, so a new image keeps the library and starts without downloading or compiling again; `pixcept backup
# /backups/NAME` writes into the third.
RUN useradd --create-home --uid 10001 pixcept \
    && mkdir -p /data /cache/huggingface /cache/numba /backups \
    && chown -R pixcept:pixcept /data /cache /backups
USER 10001:10001
VOLUME ["/data", "/cache", "/backups"]

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/ready', timeout=4)"]
# Listening beyond localhost needs PIXCEPT_READ_TOKEN (pixcept refuses to start without it).
CMD ["pixcept", "serve", "--host", "0.0.0.0", "--port", "8000"]
