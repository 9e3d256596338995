# segmesh node image. Build: docker build -t segmesh .
# Run:   docker run --init -v segmesh-data:/data -p 8080:8080 -p 4001:4001 segmesh
#        (any option as SEGMESH_* environment or as flags after `start`; see docs/OPERATIONS.md)
#
# Node 24 (current LTS) at run time; the sources run through tsx as on a developer machine, so the
# image holds no build output that could drift from them. Node 24 has Promise.withResolvers, so
# node/compat.ts does nothing there; lmdb and msgpackr load prebuilt N-API binaries (no compiler).

# The step CI runs (`npm run setup` = bin/setup: `npm ci`, or `npm install --no-save` of the locked
# versions when the registry lacks other platforms' optional binaries), without its Debian packages
# (ffmpeg, and chromium for the browser test), then development tools dropped.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY bin/setup bin/setup
RUN SEGMESH_SETUP_NPM_ONLY=1 npm run setup && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    SEGMESH_DATA_DIR=/data \
    SEGMESH_HTTP_HOST=0.0.0.0 \
    SEGMESH_HTTP_PORT=8080 \
    SEGMESH_P2P_HOST=0.0.0.0 \
    SEGMESH_P2P_PORT=4001
COPY --from=build /app/node_modules node_modules
COPY . .
# The node runs as the unprivileged `node` user (uid 1000) of the base image and owns only /data.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# 8080: HTTP API (listings, segments, playlists, cuts, status page, /metrics). 4001: libp2p (TCP).
EXPOSE 8080 4001
# Reconcile runs before the HTTP port opens: a large segment tree can take minutes on a cold start.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10m --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.SEGMESH_HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# bin/segmesh execs node, so node is PID 1 and gets SIGTERM (drain, then exit 0); run with --init
# (compose: init: true) so that a zombie ffmpeg is always reaped.
ENTRYPOINT ["/app/bin/segmesh"]
CMD ["start"]
