# OSS Runner: one process serving the web app, REST, SSE, tRPC (HTTP and WebSocket) and the API docs.
#
#   docker build -t oss-runner .
#   docker run --rm -p 8000:8000 -v "$(pwd)/logs:/app/logs" oss-runner
#
# The server runs as the user node (uid 1000): a bind-mounted logs directory must be writable by it.
# Bubblewrap needs extra container options to create its PID namespace (see the README); without
# them the server falls back to process groups and /health says so.
#
# The server runs as TypeScript through tsx (a production dependency): there is no compile step
# for the server, only `vite build` for the web app.

# --- toolchain: better-sqlite3 is a native module. npm fetches a prebuilt binary for it when it can
# and compiles it with python3, make and g++ when it cannot.
FROM node:20-bookworm-slim AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# npm 11 runs only the install scripts that package.json's "allowScripts" approves (better-sqlite3,
# esbuild); the npm 10 of this image ignores that field and runs them all, so also turn off the
# analytics that swagger-ui-dist's @scarf/scarf would otherwise send.
ENV SCARF_ANALYTICS=false

# --- production dependencies only, for the runtime image.
FROM toolchain AS deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- the web app: `vite build` writes dist/web.
FROM toolchain AS build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json vite.config.ts ./
COPY shared ./shared
COPY web ./web
RUN npm run build

# --- runtime.
FROM node:20-bookworm-slim AS runtime
# bubblewrap gives each run its own PID namespace (see the README for the container options it
# needs); without it the server falls back to process groups and says so in /health.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV HOST=0.0.0.0 \
    PORT=8000 \
    LOG_DIR=/app/logs \
    NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
# tsconfig.json: tsx compiles the server with the same settings as in development.
COPY package.json package-lock.json tsconfig.json ./
COPY server ./server
COPY shared ./shared
COPY --from=build /app/dist/web ./dist/web
RUN mkdir -p /app/logs && chown node:node /app/logs
USER node
VOLUME /app/logs
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--import", "tsx", "server/src/main.ts"]
