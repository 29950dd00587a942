# nestor-catalog server image: `docker compose up --build` (docker-compose.yml) or
#   docker build -t nestor/catalog:dev .
#   docker run -p 8080:8080 -v ./catalog.yaml:/etc/nestor/catalog.yaml:ro \
#     -e STORAGE_TYPE=dynamodb -e DYNAMODB_ENDPOINT=http://dynamodb:8000 -e REDIS_URL=redis://redis:6379/0 \
#     nestor/catalog:dev
# The configuration is mounted at /etc/nestor/catalog.yaml; named environment variables
# (STORAGE_TYPE, DYNAMODB_*, CACHE_TYPE, REDIS_URL, PORT, LOG_LEVEL...) and
# NESTOR_CATALOG__<SECTION>__<KEY> override it.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --disable-pip-version-check --prefix=/install ".[server,dynamodb,redis]"

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    DATA_DIR=/var/lib/nestor-catalog
RUN useradd --system --uid 10001 --home-dir /var/lib/nestor-catalog --create-home nestor
COPY --from=build /install /usr/local
USER nestor
WORKDIR /var/lib/nestor-catalog
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
    CMD ["python", "-c", "import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2); sys.exit(0)"]
ENTRYPOINT ["nestor-catalog"]
CMD ["serve", "--config", "/etc/nestor/catalog.yaml"]
