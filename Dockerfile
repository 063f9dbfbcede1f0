# startup-lock: one image for every role (server, acquire, health, run).
# Multi-stage: production dependencies and the TypeScript build happen on a Node image with npm; the
# runtime is distroless Node (no shell, no package manager) running as UID 65532. Nothing is written
# at run time outside /tmp and the --state-file directory, so a read-only root filesystem works.
#
#   docker build -t startup-lock:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/startup-lock:VERSION \
#     --build-arg VERSION=VERSION --build-arg REVISION="$(git rev-parse HEAD)" --push .
#
# Machines without a registry build local bases (scripts/docker-base-images.sh) and pass them in:
#   docker build --network host --build-arg BUILD_IMAGE=startup-lock/node-build:local \
#     --build-arg RUNTIME_IMAGE=startup-lock/node-runtime:local -t startup-lock:dev .
# (No "# syntax=" line, no RUN --mount and no FROM --platform=$BUILDPLATFORM: the file must also build
# with the legacy builder offline. With buildx the arm64 build stages therefore run under emulation;
# they only run npm and tsc, so the result is the same, just slower.)
#
# `npm run release` (scripts/release.ts) builds both architectures without emulation: the build stages
# run on the build machine's base (their output is plain JavaScript: no production dependency has a
# native addon, the release checks) and only RUNTIME_IMAGE changes, to an arm64 base for linux/arm64
# (scripts/docker-base-images.sh with STARTUP_LOCK_BASE_ARCH=arm64). /app/sbom.cdx.json is the SBOM.

ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# Production dependencies only; install scripts are not needed by any runtime dependency. Type
# declarations, source maps and markdown are never loaded at run time: pruned (~35 MB).
FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
COPY scripts/image-prune-modules.mjs /tmp/
RUN npm ci --omit=dev --ignore-scripts --loglevel=warn && node /tmp/image-prune-modules.mjs node_modules

# The compiler needs the dev dependencies; none of them reaches the final image. The SBOM (CycloneDX
# 1.6, @cyclonedx/cyclonedx-npm) describes the production tree the deps stage installs from the same
# lock file; --output-reproducible leaves out the timestamp so an unchanged lock file gives the same layer.
FROM ${BUILD_IMAGE} AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --loglevel=warn && \
    npx cyclonedx-npm --omit dev --spec-version 1.6 --output-format JSON --mc-type application \
      --flatten-components --output-reproducible --output-file /app/sbom.cdx.json
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="startup-lock" \
      org.opencontainers.image.description="Node-local start-up lock for Kubernetes init containers, and cluster-wide locks on Lease objects" \
      org.opencontainers.image.source="https://github.com/startup-lock/startup-lock" \
      org.opencontainers.image.url="https://github.com/startup-lock/startup-lock" \
      org.opencontainers.image.documentation="https://github.com/startup-lock/startup-lock#readme" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
# distroless keeps node at /nodejs/bin/node, node:*-slim at /usr/local/bin/node: PATH covers both,
# so the entrypoint below works on either runtime base.
ENV NODE_ENV=production \
    PATH=/nodejs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /app
# Root-owned and read-only for the process: the application cannot modify itself.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/sbom.cdx.json ./sbom.cdx.json
COPY package.json LICENSE ./
COPY bin ./bin
USER 65532:65532
# A young generation of 1 MB semi-spaces instead of V8's default of up to 16 MB: ~5 MB less RSS idle and
# ~7 MB less after a burst of requests, for no measurable throughput (docs/benchmarks.md, "V8 flags").
# On the command line, not in NODE_OPTIONS, so the command `startup-lock run` wraps does not inherit it.
ENTRYPOINT ["node", "--max-semi-space-size=1", "/app/bin/startup-lock"]
CMD ["server"]
