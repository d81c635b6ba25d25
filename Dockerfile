# flyte-webhook: the gateway, with the embedded control plane when FLYTE_ENDPOINT is unset.
# build: dev dependencies and the bundle (dist/, with ReDoc's standalone bundle copied in);
# deps: production dependencies only; the final stage takes dist/ and those, nothing else.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY routes ./routes
COPY examples ./examples
RUN node scripts/build.mjs

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts

FROM node:24-slim
# tini as PID 1: it passes SIGTERM/SIGINT on to node (which then shuts down gracefully) and
# reaps orphans; node itself as PID 1 would ignore a signal that arrives before its
# handlers are installed.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 FLYTE_LOCAL_DB=/data/flyte.db
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY examples ./examples
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/cli.js", "serve"]
