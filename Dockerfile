# The ocset-scheduler container image: a Rust build stage, then a small
# Debian runtime with the one binary, run as a non-root user, every
# writable byte under the volume /var/lib/ocset-scheduler (the root file
# system can be read-only), configured by OCSET__SECTION__KEY variables
# over /etc/ocset-scheduler/config.toml. README "Container image".
#
# Build from source (the usual way):
#   docker build --build-arg OCSET_COMMIT=$(git rev-parse --short=12 HEAD) \
#     -t ocset-scheduler .
# Build from a binary already built on the host, for the same runtime image
# with no Rust toolchain image (tests/deploy/container.sh does this):
#   cargo build --release --locked
#   docker build --target prebuilt --build-arg OCSET_COMMIT=... \
#     --build-arg BINARY=target/release/ocset-scheduler -t ocset-scheduler .
# BASE picks the runtime's base image (default debian:bookworm-slim).

ARG BASE=debian:bookworm-slim

# ---- build: the release binary, from the locked dependencies ----------
FROM rust:1.95-bookworm AS build
# build.rs reads OCSET_COMMIT for --version: a build context has no .git.
ARG OCSET_COMMIT=unknown
ENV OCSET_COMMIT=${OCSET_COMMIT}
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked \
    && cp target/release/ocset-scheduler /usr/local/bin/ocset-scheduler \
    && /usr/local/bin/ocset-scheduler --version

# ---- base: everything in the runtime image but the binary -------------
FROM ${BASE} AS base
ARG OCSET_VERSION=0.1.0
ARG OCSET_COMMIT=unknown
# CA certificates for SMTP over TLS and https webhooks; nothing else.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --gid 10001 ocset \
    && useradd --uid 10001 --gid 10001 --no-create-home \
       --home-dir /var/lib/ocset-scheduler --shell /usr/sbin/nologin ocset \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/ocset-scheduler
COPY --chmod=0644 deploy/container/config.toml /etc/ocset-scheduler/config.toml
LABEL org.opencontainers.image.title="ocset-scheduler" \
      org.opencontainers.image.description="Tracks OCSET intelligence packages against the national enforcement timescales and escalates before and after their deadlines." \
      org.opencontainers.image.version="${OCSET_VERSION}" \
      org.opencontainers.image.revision="${OCSET_COMMIT}" \
      org.opencontainers.image.licenses="MIT"
# The SQLite file (when database.url is sqlite) and .eml files (when
# mail.transport is file) live here, and nothing is written anywhere else.
VOLUME ["/var/lib/ocset-scheduler"]
WORKDIR /var/lib/ocset-scheduler
USER 10001:10001
EXPOSE 8080
# The binary asks its own /readyz (no curl in the image): 0 ready, 1 not.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/ocset-scheduler", "--config", "/etc/ocset-scheduler/config.toml", "healthcheck", "--timeout", "5"]
# serve stops cleanly on SIGTERM within 20 s (give it 30 s before SIGKILL).
STOPSIGNAL SIGTERM
# Any subcommand runs with the image's configuration: `docker run IMAGE
# migrate`; replace the file by mounting another one over it.
ENTRYPOINT ["/usr/local/bin/ocset-scheduler", "--config", "/etc/ocset-scheduler/config.toml"]
CMD ["serve"]

# ---- prebuilt: the runtime image from a binary built on the host ------
FROM base AS prebuilt
ARG BINARY=target/release/ocset-scheduler
COPY --chmod=0755 ${BINARY} /usr/local/bin/ocset-scheduler

# ---- runtime (the default target): the binary from the build stage ----
FROM base AS runtime
COPY --from=build --chmod=0755 /usr/local/bin/ocset-scheduler /usr/local/bin/ocset-scheduler
