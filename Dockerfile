# dihr-graph's container image: the web application and GraphQL API (`dihr serve`).
# Build: docker build -t dihr-graph .   Run several behind a proxy: deploy/compose.yaml.

# Node packages the app serves or reads (Leaflet, GraphiQL, Swagger UI; INSEE
# populations for `dihr init`), at the versions of package-lock.json.
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# Installed at the versions of the lock (reproducible; advisory-affected versions excluded).
COPY pyproject.toml requirements.lock README.md ./
COPY graph graph
COPY api api
COPY cli cli
COPY importers importers
COPY maps maps
RUN pip install -c requirements.lock . \
 && useradd --system --uid 10001 --home-dir /data dihr \
 && mkdir -p /data && chown dihr /data
COPY --from=assets /build/node_modules /app/node_modules
USER dihr
ENV DIHR_DATA_DIR=/data DIHR_HOST=0.0.0.0 DIHR_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["dihr", "serve"]
