# OSS Runner: one process serving the web app, REST, SSE, tRPC (HTTP and WebSocket) and the API docs.
#
#   docker build -t oss-runner .
#   docker run --rm -p 8000:8000 -v "$(pwd)/logs:/app/logs" oss-runner
#
# The server runs as the user node (uid 1000): a bind-mounted logs directory must be writable by it.
# Bubblewrap needs extra container options to create its PID namespace (see the README); without
# them the server falls back to process groups and /health says so.
#
# The image runs the server compiled to JavaScript by `npm run build` (dist/server, beside the web app
# in dist/web): `node dist/server/main.js`, a fleet's worker `node dist/server/worker.js`, the CLIs
# `node dist/server/apikey.js` and `node dist/server/tools.js`. tsx and esbuild are development
# dependencies: they are used while the image is built, and are not in it.

# Node.js 24 LTS, the exact release of .nvmrc (a test keeps the two the same).
ARG NODE_VERSION=24.22.3

# --- toolchain: nothing is compiled. better-sqlite3 carries prebuilt Node-API binaries in its npm
# package, and the npm 11 of this image runs only the install scripts that package.json's
# "allowScripts" approves (esbuild's); swagger-ui-dist's analytics (@scarf/scarf) stay off either way.
# Should a native module ever build here, it takes its headers from this Node, not from the internet.
FROM node:${NODE_VERSION}-bookworm-slim AS toolchain
WORKDIR /app
ENV SCARF_ANALYTICS=false \
    npm_config_nodedir=/usr/local

# --- production dependencies only, for the runtime image.
FROM toolchain AS deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- every dependency, for the build and the scanners' installer.
FROM toolchain AS devdeps
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# --- `npm run build`: the web app (vite) into dist/web, the server (esbuild, server/build.ts) into dist/server.
FROM devdeps AS build
COPY tsconfig.json vite.config.ts ./
COPY shared ./shared
COPY web ./web
COPY server/build.ts ./server/build.ts
COPY server/src ./server/src
RUN npm run build

# --- scanners: Trivy, Syft, Grype and Prowler at the pins of server/src/cli/pins.ts, installed by the
# same `npm run tools -- install` as on a machine (README, "Scanners"). SCANNERS_FROM=release takes the
# official linux archives, each checked against the checksums file of its release (a missing or wrong
# line fails the build); SCANNERS_FROM=context takes the binaries from ./tools-prebuilt in the build
# context (`bash .ci/image` puts there those that `npm run tools -- install` built from source), each
# checked to report its pinned version. Prowler comes from PyPI either way, into its own virtual
# environment (which must stay at this path: the runtime copies it to the same place). The installer runs
# from its TypeScript through tsx (here only, at build time): built, it would be rebuilt, and every
# scanner downloaded again, whenever any server file changed.
FROM devdeps AS scanners
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
ENV TOOLS_DIR=/opt/oss-runner/tools
COPY server/src/config.ts ./server/src/config.ts
COPY server/src/lib/byteSize.ts ./server/src/lib/byteSize.ts
COPY server/src/cli/tools.ts server/src/cli/pins.ts ./server/src/cli/
# The glob lets the build go on when ./tools-prebuilt does not exist (package.json always does).
COPY package.json tools-prebuil[t] /tmp/prebuilt/
ARG SCANNERS_FROM=release
RUN case "$SCANNERS_FROM" in \
      release) from=release ;; \
      context) from=/tmp/prebuilt ;; \
      *) echo "SCANNERS_FROM must be release or context" >&2; exit 1 ;; \
    esac \
 && node --import tsx server/src/cli/tools.ts install --from "$from" \
 && rm -rf /tmp/prebuilt /root/.cache

# --- runtime.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# bubblewrap gives each run its own PID namespace (see the README for the container options it
# needs); without it the server falls back to process groups and says so in /health. tini is PID 1:
# Node would not reap the bubblewrap processes it does not wait for (one zombie per sandboxed run).
# Lynis comes from Debian, Python for Prowler's environment; the npm SBOM tool from the npm registry
# (its integrity checked by npm against the registry's).
ARG CYCLONEDX_NPM_VERSION=6.0.1
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap lynis python3 tini \
 && rm -rf /var/lib/apt/lists/* \
 && npm install -g --no-audit --no-fund "@cyclonedx/cyclonedx-npm@${CYCLONEDX_NPM_VERSION}" \
 && npm cache clean --force
COPY --from=scanners /opt/oss-runner/tools /opt/oss-runner/tools
WORKDIR /app
ENV PATH=/opt/oss-runner/tools/bin:$PATH \
    HOST=0.0.0.0 \
    TOOLS_DIR=/opt/oss-runner/tools \
    PORT=8000 \
    LOG_DIR=/app/logs \
    NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
# package.json: the version /health reports. server/catalog: the shipped catalog (CATALOG_FILE's
# default). dist/server finds both, and dist/web, two levels above itself.
COPY package.json package-lock.json ./
COPY server/catalog ./server/catalog
# bin: `npx oss-runner`, the command-line client (dist/server/oss-runner.js; docs/cli.md).
COPY bin ./bin
COPY --from=build /app/dist ./dist
RUN mkdir -p /app/logs && chown node:node /app/logs
USER node
VOLUME /app/logs
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server/main.js"]
