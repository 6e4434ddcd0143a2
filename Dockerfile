# syntax=docker/dockerfile:1
# One image for every role: the webhook injects containers with `args` only
# ([init, ...], [proxy, ...]) and the control plane runs [webhook, ...] and
# [controller, ...], so the entrypoint is the `detour` CLI itself.
#
# Build:  docker build -t detour:0.1.0 .
# test/unit/dockerfile.test.ts checks the essentials below (no Docker engine on CI).

ARG NODE_IMAGE=node:24-slim

# --- build: full dev dependencies, TypeScript -> bundles in dist/ --------------------
# scripts/build.ts bundles each role with esbuild (issue 13): dist/detour.js (every
# command), dist/detour-proxy.js (the injected sidecar) and dist/chunks/ (loaded on use).
# Every dependency is inlined, so the runtime stage needs no node_modules.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.ts ./scripts/build.ts
COPY scripts/build ./scripts/build
COPY bin ./bin
COPY shared ./shared
COPY webhook ./webhook
COPY sidecar ./sidecar
COPY controller ./controller
COPY ops ./ops
RUN npm run build

# --- runtime ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# iptables for `detour init`: Debian's package ships both backends (iptables-legacy and
# iptables-nft, via xtables-legacy-multi / xtables-nft-multi); init picks the one the node
# uses, as Istio's istio-iptables does.
RUN apt-get update \
  && apt-get install -y --no-install-recommends iptables \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/dist ./dist
COPY package.json ./
# `detour` and `detour-proxy` on PATH, as `npm link` would make them: symlinks to the
# bundles (package.json "bin"), whose shebang runs node. Node resolves the symlink, so
# each bundle's chunks/ are found beside it. The webhook injects the proxy with
# `command: [detour-proxy]`, which loads no webhook, controller or client-node models.
RUN chmod 0755 dist/detour.js dist/detour-proxy.js \
  && ln -s /app/dist/detour.js /usr/local/bin/detour \
  && ln -s /app/dist/detour-proxy.js /usr/local/bin/detour-proxy
# The proxy's UID/GID (shared/labels.ts PROXY_UID): iptables exempts this UID's traffic
# from capture, so the proxy's own upstream connections are not looped back into it.
# `detour init` is the only role that runs as root; the webhook sets runAsUser: 0 on it.
USER 1337:1337
EXPOSE 8443 15000 15001 15020
ENTRYPOINT ["detour"]
CMD ["--help"]
