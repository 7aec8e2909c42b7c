# metricx in a container: `docker build -t metricx .` (README, "Running it in containers").
# Three stages: the browser assets from the npm registry, the wheel built with them, and a
# runtime that installs only that wheel (no checkout, no Node, no build tools) as a non-root user.

# 1. The web app's browser assets, pinned by package-lock.json (what `make assets` does).
FROM node:22-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
 && mkdir -p dist \
 && cp node_modules/htmx.org/dist/htmx.min.js node_modules/uplot/dist/uPlot.iife.min.js \
       node_modules/uplot/dist/uPlot.min.css dist/

# 2. The wheel: the package with its migrations and the assets above.
FROM python:3.11-slim-bookworm AS build
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.8
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
COPY --from=assets /src/dist/ ./src/metricx/web/static/dist/
# The dependencies at the versions uv.lock pins, for the runtime stage.
RUN uv build --wheel --out-dir /dist \
 && uv export --frozen --no-dev --no-emit-project --no-hashes --output-file /dist/requirements.txt

# 3. The runtime: the wheel and its locked dependencies, nothing else.
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    METRICX_DATA_DIR=/var/lib/metricx \
    METRICX_LOG_FORMAT=json
COPY --from=build /dist/ /tmp/dist/
RUN pip install -r /tmp/dist/requirements.txt /tmp/dist/metricx-*.whl \
 && rm -rf /tmp/dist \
 && useradd --system --uid 10001 --home-dir /var/lib/metricx --create-home metricx
USER metricx
WORKDIR /var/lib/metricx
VOLUME ["/var/lib/metricx"]
EXPOSE 8000
# /readyz: the database answers and is migrated (503 otherwise). No curl in the slim image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
CMD ["metricx", "serve", "--host", "0.0.0.0", "--port", "8000"]
