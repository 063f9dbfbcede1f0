#!/usr/bin/env bash
# Makes the two base images the Dockerfile's ARGs can name, on machines that reach no container
# registry: `docker import` of a root filesystem assembled here from the Node binary of the npm
# package node-linux-<arch> (Node 24 LTS, the image's runtime) and the host's shared libraries.
#   startup-lock/node-runtime:local  laid out like distroless nodejs (/nodejs/bin/node, UID 65532,
#                                    no shell), so the Dockerfile's final stage works on both.
#   startup-lock/node-build:local    node + npm (the host's npm) + /bin/sh, laid out like node:24-slim.
# Idempotent: an image already built from the same Node version is kept (FORCE=1 rebuilds).
#
# STARTUP_LOCK_BASE_ARCH=arm64 (on an amd64 machine) makes only the runtime image of that architecture,
# startup-lock/node-runtime:local-arm64: the Dockerfile's build stages run npm and tsc on the build
# machine and their output is plain JavaScript, so only the final stage needs the target's base. Its
# libraries come from Debian's multiarch packages (libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64, under
# STARTUP_LOCK_BASE_SYSROOT, default /), listed by the arm64 loader itself, which runs under qemu
# (scripts/ensure-qemu.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'docker-base-images: %s\n' "$*" >&2; }

case "$(uname -m)" in
  x86_64) host_arch=amd64 ;;
  aarch64 | arm64) host_arch=arm64 ;;
  *) log "unsupported machine $(uname -m)"; exit 1 ;;
esac
ARCH="${STARTUP_LOCK_BASE_ARCH:-$host_arch}"
case "$ARCH" in
  amd64) node_arch=x64 gnu_arch=x86_64 loader_name=ld-linux-x86-64.so.2 ;;
  arm64) node_arch=arm64 gnu_arch=aarch64 loader_name=ld-linux-aarch64.so.1 ;;
  *) log "unsupported STARTUP_LOCK_BASE_ARCH=$ARCH (amd64 or arm64)"; exit 1 ;;
esac
foreign=false
[ "$ARCH" = "$host_arch" ] || foreign=true
SYSROOT="${STARTUP_LOCK_BASE_SYSROOT:-}"

NODE_VERSION="${STARTUP_LOCK_BASE_NODE_VERSION:-24.21.0}"
if [ "$foreign" = true ]; then
  RUNTIME_TAG="${STARTUP_LOCK_RUNTIME_IMAGE:-startup-lock/node-runtime:local-$ARCH}"
else
  RUNTIME_TAG="${STARTUP_LOCK_RUNTIME_IMAGE:-startup-lock/node-runtime:local}"
fi
BUILD_TAG="${STARTUP_LOCK_BUILD_IMAGE:-startup-lock/node-build:local}"
NPM_DIR="${STARTUP_LOCK_BASE_NPM_DIR:-$(npm root -g 2>/dev/null)/npm}"
VERSION_LABEL="org.startup-lock.base.node-version"

up_to_date() {
  [ "${FORCE:-0}" != 1 ] &&
    [ "$(docker image inspect -f "{{ index .Config.Labels \"$VERSION_LABEL\" }}" "$1" 2>/dev/null)" = "$NODE_VERSION" ]
}

if [ "$foreign" = true ] && up_to_date "$RUNTIME_TAG"; then
  log "$RUNTIME_TAG (Node $NODE_VERSION, $ARCH) already present"
  exit 0
elif [ "$foreign" = false ] && up_to_date "$RUNTIME_TAG" && up_to_date "$BUILD_TAG"; then
  log "$RUNTIME_TAG and $BUILD_TAG (Node $NODE_VERSION) already present"
  exit 0
fi

# Another architecture's libraries are listed by that architecture's loader (run under qemu): the
# host's ldd cannot read them. Both must be there before anything is fetched or built.
loader="$SYSROOT/lib/$loader_name"
if [ "$foreign" = true ]; then
  if [ ! -e "$loader" ] || [ ! -e "$SYSROOT/usr/lib/$gnu_arch-linux-gnu/libstdc++.so.6" ]; then
    log "the $ARCH libraries are missing under ${SYSROOT:-/} ($loader, libstdc++.so.6): install them with" \
      "dpkg --add-architecture $ARCH && apt-get update && apt-get install libc6:$ARCH libstdc++6:$ARCH libgcc-s1:$ARCH" \
      "(scripts/ensure-qemu.sh does)"
    exit 1
  fi
  if ! "$loader" --version >/dev/null 2>&1; then
    log "cannot run $ARCH programs here: enable qemu-user-static's binfmt entry (scripts/ensure-qemu.sh)"
    exit 1
  fi
fi

# The Node binary comes from the registry package (pinned, scripts/image-node.sh), so the image runs
# Node 24 whatever the host's Node is; the tarball is cached so a rebuild works offline.
node_bin="$(STARTUP_LOCK_BASE_NODE_VERSION="$NODE_VERSION" STARTUP_LOCK_NODE_ARCH="$node_arch" bash scripts/image-node.sh)"
node_dir="$(dirname "$(dirname "$node_bin")")"

work="$(mktemp -d "${TMPDIR:-/tmp}/startup-lock-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Copies a binary's shared libraries (and the loader) into the root filesystem at their host paths.
copy_libs() {
  local root="$1" bin="$2" lib listing
  if [ "$foreign" = true ]; then
    listing="$(LD_LIBRARY_PATH="$SYSROOT/lib/$gnu_arch-linux-gnu:$SYSROOT/usr/lib/$gnu_arch-linux-gnu" "$loader" --list "$bin")"
  else
    listing="$(ldd "$bin")"
  fi
  for lib in $(grep -oE '/[^ ]+' <<<"$listing"); do
    [ -e "$lib" ] || continue
    mkdir -p "$(dirname "$root${lib#"$SYSROOT"}")"
    cp -L "$lib" "$root${lib#"$SYSROOT"}"
  done
  # The program asks for the loader by its ABI path (/lib/ld-linux-*.so.*), which the list may give
  # as the file it resolves to.
  if [ ! -e "$root/lib/$loader_name" ] && [ -e "$loader" ]; then
    mkdir -p "$root/lib"
    cp -L "$loader" "$root/lib/$loader_name"
  fi
}

# The part both images share: libraries, users (nonroot = 65532 as in distroless), CA bundle, /tmp.
base_rootfs() {
  local root="$1" node_bin="$2"
  mkdir -p "$root"/{etc/ssl/certs,tmp,home/nonroot,root,usr/bin,bin}
  chmod 1777 "$root/tmp"
  chown 65532:65532 "$root/home/nonroot"
  copy_libs "$root" "$node_bin"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  # The machine's own bundle, so TLS (npm in the build stage) trusts what the machine trusts.
  if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
    cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  fi
  printf '%s\n' /lib /usr/lib "/lib/$gnu_arch-linux-gnu" "/usr/lib/$gnu_arch-linux-gnu" >"$root/etc/ld.so.conf"
  ldconfig -r "$root" 2>/dev/null || true
}

import_rootfs() {
  local root="$1" tag="$2"
  shift 2
  log "importing $tag"
  tar -C "$root" --numeric-owner -c . |
    docker import --platform "linux/$ARCH" "$@" --change "LABEL $VERSION_LABEL=$NODE_VERSION" - "$tag" >/dev/null
}

# Runtime: distroless layout and defaults (ENTRYPOINT node, USER nonroot, no shell).
rt="$work/runtime"
mkdir -p "$rt/nodejs/bin"
cp "$node_dir/bin/node" "$rt/nodejs/bin/node"
cp "$node_dir/LICENSE" "$rt/nodejs/LICENSE"
base_rootfs "$rt" "$rt/nodejs/bin/node"
import_rootfs "$rt" "$RUNTIME_TAG" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'USER 65532' --change 'WORKDIR /home/nonroot' --change 'ENTRYPOINT ["/nodejs/bin/node"]'

if [ "$foreign" = true ]; then
  log "built $RUNTIME_TAG (Node $NODE_VERSION, $ARCH)"
  exit 0
fi

# Build: node and npm under /usr/local as in the node:*-slim images, plus sh and env for npm scripts.
if [ ! -f "$NPM_DIR/bin/npm-cli.js" ]; then
  log "no npm found at $NPM_DIR (set STARTUP_LOCK_BASE_NPM_DIR)"
  exit 1
fi
bd="$work/build"
mkdir -p "$bd/usr/local/bin" "$bd/usr/local/lib/node_modules"
cp "$node_dir/bin/node" "$bd/usr/local/bin/node"
cp -a "$NPM_DIR" "$bd/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$bd/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$bd/usr/local/bin/npx"
base_rootfs "$bd" "$bd/usr/local/bin/node"
for tool in sh:dash env cat ls mkdir rm cp mv ln chmod chown; do
  name="${tool%%:*}" src="$(command -v "${tool#*:}")"
  cp -L "$src" "$bd/bin/$name"
  copy_libs "$bd" "$src"
done
ln -s ../../bin/env "$bd/usr/bin/env"
ldconfig -r "$bd" 2>/dev/null || true
import_rootfs "$bd" "$BUILD_TAG" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV HOME=/root' --change 'CMD ["node"]'

log "built $RUNTIME_TAG and $BUILD_TAG (Node $NODE_VERSION, $ARCH)"
