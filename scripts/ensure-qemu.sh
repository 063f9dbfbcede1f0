#!/usr/bin/env bash
# Makes an amd64 machine able to build and run the arm64 image (test/container/release.test.ts and
# `npm run release`): qemu-user-static with its binfmt entry enabled (binfmt_misc mounted if needed),
# Debian's arm64 runtime libraries (multiarch: libc6, libstdc++6, libgcc-s1), then the arm64 runtime
# base image (scripts/docker-base-images.sh with STARTUP_LOCK_BASE_ARCH=arm64).
# Idempotent: each part is skipped when already in place. Runs after ensure-docker.sh (the engine).
# With CI=true a failure exits non-zero; elsewhere it is a loud warning and the release suite skips.
set -euo pipefail
cd "$(dirname "$0")/.."

give_up() {
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-qemu: ERROR: $*" >&2
    exit 1
  fi
  echo "ensure-qemu: WARNING: $* — the release suite (test/container/release.test.ts) will SKIP" >&2
  exit 0
}

case "$(uname -m)" in
  aarch64 | arm64) echo "ensure-qemu: arm64 machine, nothing to emulate" ;;
  x86_64) ;;
  *) give_up "unsupported machine $(uname -m)" ;;
esac

binfmt=/proc/sys/fs/binfmt_misc
entry="$binfmt/qemu-aarch64"
libs=(libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64)
have_libs() { [ -e /lib/ld-linux-aarch64.so.1 ] && [ -e /usr/lib/aarch64-linux-gnu/libstdc++.so.6 ]; }

if [ "$(uname -m)" = x86_64 ]; then
  missing=()
  command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
  command -v update-binfmts >/dev/null 2>&1 || missing+=(binfmt-support)
  have_libs || missing+=("${libs[@]}")
  if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || give_up "missing ${missing[*]} and this is not root, so they cannot be installed"
    command -v apt-get >/dev/null 2>&1 || give_up "missing ${missing[*]} and apt-get is not available"
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt_opts=(-o DPkg::Lock::Timeout=300 -qq)
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    echo "ensure-qemu: installing ${missing[*]}"
    if ! { apt-get "${apt_opts[@]}" update &&
      apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null; }; then
      give_up "apt-get install ${missing[*]} failed"
    fi
  fi

  if [ ! -e "$binfmt/register" ]; then
    [ "$(id -u)" -eq 0 ] || give_up "binfmt_misc is not mounted and this is not root"
    mount -t binfmt_misc binfmt_misc "$binfmt" || give_up "cannot mount binfmt_misc on $binfmt"
  fi
  if ! grep -qx enabled "$entry" 2>/dev/null; then
    [ "$(id -u)" -eq 0 ] || give_up "the qemu-aarch64 binfmt entry is not enabled and this is not root"
    update-binfmts --enable qemu-aarch64 || give_up "update-binfmts --enable qemu-aarch64 failed"
  fi
  # The F flag makes the kernel keep the interpreter open, so arm64 programs run inside containers too.
  grep -q '^flags: .*F' "$entry" || give_up "the qemu-aarch64 binfmt entry lacks the F (fix binary) flag"
  /lib/ld-linux-aarch64.so.1 --version >/dev/null 2>&1 || give_up "arm64 programs do not run under qemu here"
  echo "ensure-qemu: arm64 programs run under $(qemu-aarch64-static --version | head -n1)"
fi

if docker info >/dev/null 2>&1; then
  STARTUP_LOCK_BASE_ARCH=arm64 bash scripts/docker-base-images.sh ||
    give_up "could not build the arm64 runtime base image (scripts/docker-base-images.sh)"
else
  give_up "no Docker engine answers (scripts/ensure-docker.sh), so the arm64 base image was not built"
fi
