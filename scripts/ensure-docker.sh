#!/usr/bin/env bash
# Makes a Docker engine answer for the container suite (test/container), then makes the local base
# images the Dockerfile can build from (scripts/docker-base-images.sh), since no registry is reachable.
# No engine: install docker.io from Debian when dockerd is missing (root + apt), and start dockerd in the
# background without a bridge or iptables — every test container uses the host network on 127.0.0.1.
# Idempotent: an engine that answers and images already built are left alone.
# With CI=true any failure exits non-zero; elsewhere it is a loud warning and the suite skips loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

in_ci="${CI:-false}"
log_dir="${STARTUP_LOCK_DOCKERD_DIR:-/tmp/startup-lock-dockerd}"
log_file="$log_dir/dockerd.log"
wait_seconds="${STARTUP_LOCK_DOCKERD_WAIT:-60}"

log() { echo "ensure-docker: $*" >&2; }
fail_or_warn() {
  if [ "$in_ci" = "true" ]; then
    log "ERROR: $*"
    exit 1
  fi
  log "WARNING: $* — the container suite (test/container) will be SKIPPED"
  exit 0
}

engine_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# A dockerd we (or someone) started may still be coming up: wait for it rather than start a second.
dockerd_running() {
  local pid
  pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
  # /proc rather than kill -0: a non-root user may not signal root's dockerd but can see it.
  [ -n "$pid" ] && [ -d "/proc/$pid" ]
}

wait_for_engine() {
  local i
  for ((i = 0; i < wait_seconds * 2; i++)); do
    engine_answers && return 0
    sleep 0.5
  done
  return 1
}

if ! engine_answers; then
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
      fail_or_warn "no Docker engine answers and docker.io cannot be installed here (needs root and apt-get)"
    fi
    log "installing docker.io from Debian"
    # Other suites' ensure scripts may be using apt at the same time: wait for the dpkg lock.
    apt_opts=(-qq -o DPkg::Lock::Timeout=300)
    if ! { DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update &&
      DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends \
        docker.io >/dev/null; }; then
      fail_or_warn "apt-get could not install docker.io"
    fi
  fi
  if ! dockerd_running; then
    if [ "$(id -u)" != "0" ]; then
      fail_or_warn "no Docker engine answers and dockerd must be started as root"
    fi
    mkdir -p "$log_dir"
    log "starting dockerd (--bridge=none --iptables=false), log: $log_file"
    # setsid: the engine outlives this script and the test run; it is reused by the next run.
    setsid nohup dockerd --bridge=none --iptables=false --ip6tables=false >>"$log_file" 2>&1 </dev/null &
    echo $! >"$log_dir/dockerd.pid"
  fi
  if ! wait_for_engine; then
    tail -n 20 "$log_file" >&2 2>/dev/null || true
    fail_or_warn "dockerd did not answer within ${wait_seconds}s (log: $log_file; not root? the socket may need the docker group)"
  fi
fi
log "engine: Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"

if ! bash scripts/docker-base-images.sh; then
  fail_or_warn "could not build the local base images (scripts/docker-base-images.sh)"
fi
