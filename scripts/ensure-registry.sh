#!/usr/bin/env bash
# Installs Debian's docker-registry (the CNCF Distribution registry) for test/container/release.test.ts,
# which starts its own instance on 127.0.0.1 with a temporary storage directory. The packaged service
# is never started (policy-rc.d; no systemd here), so nothing listens on :5000 behind anyone's back.
# Idempotent. With CI=true a failure exits non-zero; elsewhere it is a warning and the suite skips.
set -euo pipefail

give_up() {
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-registry: ERROR: $*" >&2
    exit 1
  fi
  echo "ensure-registry: WARNING: $* — the release suite (test/container/release.test.ts) will SKIP" >&2
  exit 0
}

if command -v docker-registry >/dev/null 2>&1; then
  echo "ensure-registry: $(docker-registry --version 2>&1 | head -n1)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || give_up "docker-registry is missing and this is not root, so it cannot be installed"
command -v apt-get >/dev/null 2>&1 || give_up "docker-registry is missing and apt-get is not available"

policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# temporary, from startup-lock scripts/ensure-registry.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=true
fi
cleanup() { if [ "$own_policy" = true ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
apt_opts=(-o DPkg::Lock::Timeout=300 -qq)
if ! { apt-get "${apt_opts[@]}" update && apt-get "${apt_opts[@]}" install -y --no-install-recommends docker-registry >/dev/null; }; then
  give_up "apt-get install docker-registry failed"
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
fi
command -v docker-registry >/dev/null 2>&1 || give_up "docker-registry installed but not on PATH"
echo "ensure-registry: installed $(docker-registry --version 2>&1 | head -n1)"
