# syntax=docker/dockerfile:1
# Kapsa hook service image: compiled JavaScript and production dependencies on a distroless Node.js
# runtime (no shell, no package manager), running as a numeric non-root user.
#
#   docker build -t kapsa .
#
# The Node major here must match the `node` devDependency in package.json (a test checks it).

# ---- build: compile TypeScript (hooks/ -> dist/) ---------------------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency downloads a Node binary in its preinstall and esbuild
# runs a postinstall; neither is needed to compile (tsc runs on the image's own Node 24).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY hooks ./hooks
RUN npx tsc -p tsconfig.build.json

# ---- deps: production dependencies only ---------------------------------------------------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ------------------------------------------------------------------------------------------
FROM gcr.io/distroless/nodejs24-debian13:nonroot AS runtime
WORKDIR /app
ENV NODE_ENV=production
# package.json is needed at run time: it makes dist/*.js ES modules ("type": "module").
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# distroless "nonroot" (65532:65532), numeric so Pod Security `runAsNonRoot` can verify it.
USER 65532:65532
EXPOSE 8080
# The image's entrypoint is node; the service handles SIGTERM itself (no init needed).
CMD ["dist/main.js"]
