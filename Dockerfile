# DevFlow Analytics image: the `devflow` CLI and every service. compose.yaml runs it as the one-shot
# `migrate`, the `ingest-api` and the `ingest-writer` containers with different commands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The whole tree, installed in place: the migration runner reads <repo>/migrations relative to
# services/core, so the package must stay next to migrations/ rather than move to site-packages.
COPY . .
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin devflow

USER devflow
EXPOSE 8000

ENTRYPOINT ["devflow"]
CMD ["run", "ingest", "--host", "0.0.0.0", "--port", "8000"]
