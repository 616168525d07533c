# syntax=docker/dockerfile:1
# content-classifier worker image.
#
#   docker build -t content-classifier:local .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=broker:9092 content-classifier:local
#
# The image holds only what `run` needs, and the operator commands that work on the same
# brokers (classify, produce, replay-dlq). Two stages: `build` builds the package's wheel
# from the subpackages those commands import (no training code, lexicon, demo or embedded
# broker: `train`, `evaluate`, `demo` and `broker` say they are not part of this image), and
# installs it with the locked runtime dependencies (requirements.lock, every file checked
# against its sha256; no training or broker extras) into a virtual environment; the final
# stage copies only that environment and the default model onto a fresh slim image, so no
# build tooling ends up in it. Every runtime dependency ships as a binary wheel for Python
# 3.11 (amd64 and arm64): nothing is compiled. `make wheel-check` builds and runs this
# stage's wheel the same way, without Docker.
#
# To serve the transformer or cascade families (onnxruntime and tokenizers), build with
#   --build-arg RUNTIME_LOCK=requirements-transformer.lock
# and mount the model folder at MODEL_PATH.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG RUNTIME_LOCK=requirements.lock
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ONLY_BINARY=:all: \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --no-cache-dir pip==25.3
COPY pyproject.toml setup.py requirements.lock requirements-transformer.lock README.md ./
# The subpackages `run`, serve, classify, produce and replay-dlq import (tests/deploy checks this
# list against what `run` imports): not consumer/training, not consumer/devkit.
COPY consumer/*.py ./consumer/
COPY consumer/commands ./consumer/commands
COPY consumer/config ./consumer/config
COPY consumer/contracts ./consumer/contracts
COPY consumer/model ./consumer/model
COPY consumer/quality ./consumer/quality
COPY consumer/serve ./consumer/serve
COPY consumer/serving ./consumer/serving
COPY consumer/stream ./consumer/stream
COPY consumer/tools ./consumer/tools
# Dependencies from the lock only, hash-checked and as wheels (PIP_ONLY_BINARY); then the
# package's wheel, built here from source (setuptools from the build-system pin), adding
# nothing. models/ is empty: the wheel carries no model, the final stage copies it once.
RUN mkdir models \
    && /opt/venv/bin/python -m pip wheel --no-cache-dir --no-deps \
        --no-binary=content-classifier --wheel-dir /wheels . \
    && /opt/venv/bin/python -m pip install --no-cache-dir --require-hashes --no-deps \
        -r ${RUNTIME_LOCK} \
    && /opt/venv/bin/python -m pip install --no-cache-dir --no-deps \
        /wheels/content_classifier-*.whl \
    && /opt/venv/bin/python -m pip check \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
LABEL org.opencontainers.image.title="content-classifier" \
      org.opencontainers.image.description="Kafka stream processor that labels content with a scikit-learn model" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid "${APP_UID}" app \
    && useradd --system --uid "${APP_UID}" --gid app --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
# The default model, baked in. Mount another model folder over this path, or mount one
# anywhere and point MODEL_PATH at it; running workers pick up a new version by themselves
# (MODEL_RELOAD_INTERVAL_S).
COPY models/malicious-content /opt/content-classifier/models/malicious-content
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MODEL_PATH=/opt/content-classifier/models/malicious-content \
    METRICS_PORT=8000
WORKDIR /tmp
USER ${APP_UID}:${APP_UID}
# 8000: metrics and probes of `run`; 8080: `serve` (with SERVE_HOST=0.0.0.0).
EXPOSE 8000 8080
# /healthz answers 503 when the consume loop is hung; urllib raises on it (exit 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('METRICS_PORT', '8000') + '/healthz', timeout=4)"]
# Exec form: the worker is PID 1 and receives SIGTERM itself (it installs its own handler:
# finish the batch, commit, leave the group within SHUTDOWN_TIMEOUT_S).
ENTRYPOINT ["content-classifier"]
CMD ["run"]
