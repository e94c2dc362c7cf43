# DevFlow Analytics image: the `devflow` CLI and every service. compose.yaml runs it as the one-shot
# `migrate`, the `ingest-api` and the `ingest-writer` containers with different commands.
# Browser code first, in a Node stage: the SDK bundle (esbuild) and rrweb-player for the replay
# pages, from the committed npm lock files. Only the built file and the player's packages reach
# the final image.
FROM node:20-slim AS web
WORKDIR /web
COPY sdk/js/package.json sdk/js/package-lock.json sdk/js/
RUN cd sdk/js && npm ci --no-audit --no-fund
COPY sdk/js sdk/js
RUN cd sdk/js && npm run build
COPY services/replay/web/package.json services/replay/web/package-lock.json services/replay/web/
RUN cd services/replay/web && npm ci --no-audit --no-fund --omit=dev

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from the committed lock alone (pinned, with hashes; the runtime subset of
# requirements.lock), so that a code change does not reinstall them and a new release upstream
# cannot change the image.
COPY requirements-image.lock ./
RUN pip install --require-hashes --no-deps -r requirements-image.lock

# The whole tree, installed in place: the migration runner reads <repo>/migrations relative to
# services/core, so the package must stay next to migrations/ rather than move to site-packages.
COPY . .
COPY --from=web /web/sdk/js/dist sdk/js/dist
COPY --from=web /web/services/replay/web/node_modules services/replay/web/node_modules
# The SDK too: the flags service evaluates with the SDK's engine (devflow_sdk.flags).
RUN pip install --no-deps --no-build-isolation -e ./sdk/python -e . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin devflow

USER devflow
EXPOSE 8000

ENTRYPOINT ["devflow"]
CMD ["run", "ingest", "--host", "0.0.0.0", "--port", "8000"]
