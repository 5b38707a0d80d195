# Kaohe 考核 — one image for the three services and the `kaohe` command line.
#   docker build -t kaohe:latest .
#   docker run --rm kaohe:latest --help
#   docker run -e KAOHE_SECRET=... -e KAOHE_BIND_HOST=0.0.0.0 kaohe:latest serve-one tasks --port 50051 --metrics-port 50061
# deploy/k8s/*.yaml run this image with `args: [serve-one, <service>, ...]` (the entry point is kaohe).

# ---- build: protos compiled here, so gen/ never has to be committed or copied in
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# grpcio-tools only generates the stubs; it stays in the build stage.
RUN python -m pip install "grpcio-tools>=1.66"
COPY pyproject.toml ./
COPY protos/ protos/
COPY scripts/gen_protos.py scripts/gen_protos.py
RUN python scripts/gen_protos.py
COPY services/ services/
RUN python -m venv /opt/kaohe \
    && /opt/kaohe/bin/pip install . \
    && find /opt/kaohe -name '__pycache__' -prune -exec rm -rf {} +

# ---- runtime: the virtual environment, the presets, a non-root user
FROM python:3.11-slim
# uid/gid 10001: the securityContext of deploy/k8s/*.yaml (runAsUser/runAsGroup) names the same ids.
RUN groupadd --system --gid 10001 kaohe \
    && useradd --system --uid 10001 --gid kaohe --home-dir /var/lib/kaohe --shell /usr/sbin/nologin kaohe \
    && install -d -m 0750 -o kaohe -g kaohe /var/lib/kaohe
COPY --from=build /opt/kaohe /opt/kaohe
COPY schemes/ /opt/kaohe/schemes/
# Read-only root filesystem in Kubernetes: no .pyc writes; logs unbuffered to the container runtime.
# KAOHE_DATA_DIR holds the SQLite files (unless KAOHE_*_DB_URL name PostgreSQL), the secret and the
# audit log; KAOHE_SCHEME is the general preset until --scheme or the variable names the county's.
ENV PATH=/opt/kaohe/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KAOHE_DATA_DIR=/var/lib/kaohe \
    KAOHE_SCHEME=/opt/kaohe/schemes/default.toml
# `kaohe sample` and relative scheme paths (schemes/ningqiang.toml) resolve from here.
WORKDIR /opt/kaohe
USER 10001:10001
VOLUME ["/var/lib/kaohe"]
# gateway, tasks, scoring (gRPC) and their /metrics
EXPOSE 50050 50051 50052 50060 50061 50062
ENTRYPOINT ["kaohe"]
CMD ["--help"]
