#!/usr/bin/env bash
# Prints the path of the Node binary the image runs (Node 24 LTS, pinned), fetching it once from the
# npm registry package node-linux-<arch> into .cache/docker-base. Used by docker-base-images.sh to
# build the local base images, and by `npm run bench:herd` to measure the client as shipped.
# The tarball is cached, so later calls work offline. STARTUP_LOCK_NODE_ARCH=arm64 (or x64) fetches
# another architecture's binary (for the arm64 base image); it is then not run here.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION="${STARTUP_LOCK_BASE_NODE_VERSION:-24.21.0}"
CACHE_DIR="$PWD/.cache/docker-base"

log() { printf 'image-node: %s\n' "$*" >&2; }

case "$(uname -m)" in
  x86_64) host_arch=x64 ;;
  aarch64 | arm64) host_arch=arm64 ;;
  *) log "unsupported architecture $(uname -m)"; exit 1 ;;
esac
node_arch="${STARTUP_LOCK_NODE_ARCH:-$host_arch}"
case "$node_arch" in
  x64 | arm64) ;;
  *) log "unsupported STARTUP_LOCK_NODE_ARCH=$node_arch (x64 or arm64)"; exit 1 ;;
esac

node_dir="$CACHE_DIR/node-$NODE_VERSION-$node_arch"
if [ ! -x "$node_dir/bin/node" ]; then
  mkdir -p "$CACHE_DIR"
  tarball="$CACHE_DIR/node-linux-$node_arch-$NODE_VERSION.tgz"
  if [ ! -s "$tarball" ]; then
    log "fetching node-linux-$node_arch@$NODE_VERSION from the npm registry"
    (cd "$CACHE_DIR" && npm pack --silent "node-linux-$node_arch@$NODE_VERSION" >/dev/null)
  fi
  rm -rf "$node_dir" && mkdir -p "$node_dir"
  tar -xzf "$tarball" -C "$node_dir" --strip-components=1 package/bin/node package/LICENSE
fi
if [ "$node_arch" = "$host_arch" ]; then
  "$node_dir/bin/node" --version >/dev/null
else
  [ -x "$node_dir/bin/node" ] || { log "no node binary in $node_dir"; exit 1; }
fi
printf '%s\n' "$node_dir/bin/node"
