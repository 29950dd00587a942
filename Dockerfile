# nestor-catalog server image.
#
#   make docker-build                      # docker build -t nestor/catalog:dev .
#   docker run -p 8080:8080 -e STORAGE_TYPE=dynamodb -e DYNAMODB_ENDPOINT=http://dynamodb:8000 nestor/catalog:dev
#
# No file needs to be mounted: the built-in configuration (SQLite under /var/lib/nestor-catalog,
# JSON logs, port 8080) is overridden by environment variables (STORAGE_TYPE, DYNAMODB_*,
# CACHE_TYPE, REDIS_URL, GIT_REPOSITORIES, PORT, LOG_LEVEL... and NESTOR_CATALOG__<SECTION>__<KEY>
# for any key). A configuration file is optional: mount it and set NESTOR_CATALOG_CONFIG to its
# path (or pass `serve --config FILE`); the variables then override the file.
#
# Runs as uid 10001 with a read-only root filesystem: everything it writes (SQLite, git mirrors,
# the sidecar's snapshot) goes to the /var/lib/nestor-catalog volume, temporary files to /tmp
# (an emptyDir on Kubernetes, --tmpfs /tmp with docker run --read-only).
#
# Two stages keep it small: the build stage installs the project and its extras into a virtual
# environment, drops pip/setuptools and botocore's models of every AWS service but the few the
# catalog calls; the runtime stage is python:slim plus that environment and openssh-client (for
# ssh:// repositories), with no compiler, no pip cache and no build files.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
RUN python -m venv /opt/nestor-catalog
COPY pyproject.toml README.md ./
COPY src ./src
# The project's own dependency ranges (pyproject.toml) are what is installed and tested.
# hadolint ignore=DL3013
RUN /opt/nestor-catalog/bin/pip install ".[server,dynamodb,redis,otel]" \
 && /opt/nestor-catalog/bin/pip uninstall --yes pip setuptools wheel \
 && botocore_data="$(/opt/nestor-catalog/bin/python -c 'import botocore, os; print(os.path.join(os.path.dirname(botocore.__file__), "data"))')" \
 && find "$botocore_data" -mindepth 1 -maxdepth 1 -type d \
      ! -name dynamodb ! -name sts ! -name sso ! -name sso-oidc -exec rm -rf {} + \
 && /opt/nestor-catalog/bin/python -m compileall -q -j 0 /opt/nestor-catalog/lib \
 && /opt/nestor-catalog/bin/nestor-catalog --help > /dev/null

FROM python:${PYTHON_VERSION}-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="nestor-catalog" \
      org.opencontainers.image.description="The catalog of infrastructure ResourceDefinitions for the Nestor platform: git sync, validation, semantic versioning, HTTP API with live events." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.vendor="Nestor platform" \
      org.opencontainers.image.documentation="README.md: Deploying on Kubernetes" \
      org.opencontainers.image.base.name="python:${PYTHON_VERSION}-slim"
# openssh-client follows the base image's Debian release and its security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 nestor \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/nestor-catalog --no-create-home \
      --shell /usr/sbin/nologin nestor \
 && install --directory --owner 10001 --group 10001 --mode 0750 /var/lib/nestor-catalog
COPY --from=build /opt/nestor-catalog /opt/nestor-catalog
ENV PATH=/opt/nestor-catalog/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/nestor-catalog \
    DATA_DIR=/var/lib/nestor-catalog
USER 10001:10001
WORKDIR /var/lib/nestor-catalog
VOLUME ["/var/lib/nestor-catalog"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=2)"]
ENTRYPOINT ["nestor-catalog"]
CMD ["serve"]
