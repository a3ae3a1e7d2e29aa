# syntax=docker/dockerfile:1
#
# The call bridge in containers: one build, one runtime base holding every
# binary, and one target per daemon (same layers, so five tags cost one
# copy).  Build one or all:
#
#	docker build --target media-edge -t callbridge/media-edge .
#	docker compose build            (compose.yaml builds all five)
#
# Runtime images run as uid 10001 with no shell work at start, need no
# writable path but /tmp (tmpfs) and their journal volumes (persister at
# /var/lib/persister, ai-session at /var/lib/ai-session): run them with a
# read-only root filesystem.
# Each target's HEALTHCHECK asks the daemon's own /health over loopback.

ARG DEBIAN_IMAGE=debian:12-slim

FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
	gcc libc6-dev make protobuf-c-compiler \
	libnng-dev libwebsockets-dev libprotobuf-c-dev libjansson-dev \
	libcurl4-openssl-dev libpq-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY proto/ proto/
COPY common/ common/
COPY services/ services/
ARG BRIDGE_VERSION=0.1.0
# Name the binaries: `make all` would also build the simulators and check
# the test dependencies, which the image needs neither of.
RUN make MODE=release BUILD=build/release \
	EXTRA_CFLAGS='-DBRIDGE_VERSION=\"'"${BRIDGE_VERSION}"'\"' \
	build/release/bin/media-edge build/release/bin/ai-session \
	build/release/bin/reasoner build/release/bin/rate-limiter \
	build/release/bin/persister build/release/bin/callctl \
 && strip build/release/bin/*

FROM ${DEBIAN_IMAGE} AS runtime
# Runtime libraries only; curl for the HEALTHCHECK, ca-certificates for
# the providers', OpenAI's and Anthropic's TLS endpoints.  libev4 and lws's
# libev plugin: media-edge loads them at run time for an epoll loop
# (EDGE_EVENT_LOOP=libev) and falls back to poll(2) without them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
	libnng1 libwebsockets17 libprotobuf-c1 libjansson4 libcurl4 libpq5 \
	libssl3 libev4 libwebsockets-evlib-ev ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 callbridge \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
	--home-dir /nonexistent --shell /usr/sbin/nologin callbridge \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/persister \
	/var/lib/ai-session
COPY --from=build /src/build/release/bin/ /usr/local/bin/
ARG BRIDGE_VERSION=0.1.0
LABEL org.opencontainers.image.title="callbridge" \
      org.opencontainers.image.version="${BRIDGE_VERSION}" \
      org.opencontainers.image.source="https://example.invalid/callbridge"
ENV LOG_LEVEL=info
USER 10001:10001
WORKDIR /
# tini forwards SIGTERM to the daemon and reaps; the daemons exit 0 within
# SHUTDOWN_TIMEOUT_MS, so the engine never needs SIGKILL.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["callctl", "--help"]

FROM runtime AS media-edge
ENV EDGE_HTTP_PORT=8080
EXPOSE 8080 7001 7002
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
	CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
CMD ["media-edge"]

FROM runtime AS ai-session
ENV AI_HTTP_PORT=9101
EXPOSE 9101 7011 7012
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
	CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9101/health"]
CMD ["ai-session"]

FROM runtime AS reasoner
ENV REASONER_HTTP_PORT=9102
EXPOSE 9102 7021
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
	CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9102/health"]
CMD ["reasoner"]

FROM runtime AS rate-limiter
ENV RATE_LIMITER_HTTP_PORT=9103
EXPOSE 9103 7031
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
	CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9103/health"]
CMD ["rate-limiter"]

FROM runtime AS persister
ENV PERSISTER_HTTP_PORT=9104 PERSISTER_SPOOL_DIR=/var/lib/persister
EXPOSE 9104 7041
VOLUME ["/var/lib/persister"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
	CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9104/health"]
CMD ["persister"]
