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

# Node.js 24 LTS, the exact release of .nvmrc (a test keeps the two the same).
ARG NODE_VERSION=24.22.3

# --- toolchain: nothing is compiled. better-sqlite3 carries prebuilt Node-API binaries in its npm
# package, and the npm 11 of this image runs only the install scripts that package.json's
# "allowScripts" approves (esbuild's); swagger-ui-dist's analytics (@scarf/scarf) stay off either way.
FROM node:${NODE_VERSION}-bookworm-slim AS toolchain
WORKDIR /app
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

# --- scanners: Trivy, Syft and Grype release binaries, each archive checked against the checksum
# file its project publishes beside it in the same release (a missing or wrong line fails the build).
# linux/amd64 archives; set the versions with --build-arg.
FROM node:${NODE_VERSION}-bookworm-slim AS scanners
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
ARG TRIVY_VERSION=0.58.1
ARG SYFT_VERSION=1.18.1
ARG GRYPE_VERSION=0.86.1
WORKDIR /tmp/scanners
RUN set -eu; \
    fetch() { \
      curl -fsSLO "$1/$2"; curl -fsSLO "$1/$3"; \
      grep -E "[[:space:]]$2\$" "$3" | sha256sum -c -; \
      tar -xzf "$2"; \
    }; \
    fetch "https://github.com/aquasecurity/trivy/releases/download/v${TRIVY_VERSION}" "trivy_${TRIVY_VERSION}_Linux-64bit.tar.gz" "trivy_${TRIVY_VERSION}_checksums.txt"; \
    fetch "https://github.com/anchore/syft/releases/download/v${SYFT_VERSION}" "syft_${SYFT_VERSION}_linux_amd64.tar.gz" "syft_${SYFT_VERSION}_checksums.txt"; \
    fetch "https://github.com/anchore/grype/releases/download/v${GRYPE_VERSION}" "grype_${GRYPE_VERSION}_linux_amd64.tar.gz" "grype_${GRYPE_VERSION}_checksums.txt"; \
    install -m 0755 trivy syft grype /usr/local/bin/

# --- Prowler in its own virtual environment; pip checks every download against the sha256 the
# package index publishes for it.
FROM node:${NODE_VERSION}-bookworm-slim AS prowler
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
ARG PROWLER_VERSION=5.0.0
RUN python3 -m venv /opt/prowler \
 && /opt/prowler/bin/pip install --no-cache-dir "prowler==${PROWLER_VERSION}"

# --- runtime.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# bubblewrap gives each run its own PID namespace (see the README for the container options it
# needs); without it the server falls back to process groups and says so in /health. tini is PID 1:
# Node would not reap the bubblewrap processes it does not wait for (one zombie per sandboxed run).
# Lynis comes from Debian, Python for Prowler; the npm SBOM tool from the npm registry (its
# integrity checked by npm against the registry's).
ARG CYCLONEDX_NPM_VERSION=6.0.1
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap lynis python3 tini \
 && rm -rf /var/lib/apt/lists/* \
 && npm install -g --no-audit --no-fund "@cyclonedx/cyclonedx-npm@${CYCLONEDX_NPM_VERSION}" \
 && npm cache clean --force
COPY --from=scanners /usr/local/bin/trivy /usr/local/bin/syft /usr/local/bin/grype /usr/local/bin/
COPY --from=prowler /opt/prowler /opt/prowler
RUN ln -s /opt/prowler/bin/prowler /usr/local/bin/prowler
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
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "server/src/main.ts"]
