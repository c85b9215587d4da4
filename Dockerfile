# syntax=docker/dockerfile:1

# Build stage. CGO is required: the SQLite driver (mattn/go-sqlite3) is cgo.
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=1
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/latchkey ./cmd/latchkey && \
    go build -trimpath -ldflags="-s -w" -o /out/demo-rp ./cmd/demo-rp

# Runtime stage. Same Debian release as the build stage, so the glibc that
# the cgo binary links against is present.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 latchkey \
    && useradd --system --uid 10001 --gid latchkey --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin latchkey \
    && mkdir -p /data \
    && chown latchkey:latchkey /data \
    && chmod 0700 /data
COPY --from=build /out/latchkey /out/demo-rp /usr/local/bin/

# The internal listener (admin console, /metrics, /healthz, /readyz) binds all
# interfaces inside the container; publish it only on a private address
# (docker-compose.yml publishes it on 127.0.0.1).
# The master key is not in /data (the user's home here): give it as a secret
# mounted at /run/secrets/master_key (docker-compose.yml), or set
# LATCHKEY_MASTER_KEY_FILE / LATCHKEY_MASTER_KEY.
ENV LATCHKEY_DATA_DIR=/data \
    LATCHKEY_MASTER_KEY_FILE=/run/secrets/master_key \
    LATCHKEY_LISTEN=:8080 \
    LATCHKEY_INTERNAL_LISTEN=:8081
# Declared after the chown so a new named volume starts owned by latchkey.
VOLUME ["/data"]
EXPOSE 8080 8081
# Numeric, so runtimes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001

# No HEALTHCHECK: the slim image has no curl or wget and latchkey has no
# healthcheck subcommand. Probe http://<container>:8081/healthz (liveness) and
# /readyz (readiness) from the orchestrator instead.
ENTRYPOINT ["/usr/local/bin/latchkey"]
CMD ["serve"]
