#!/usr/bin/env bash
# Makes sure promtool and prometheus are on PATH for test/observability (run by scripts/test.sh).
# Idempotent: does nothing when both are already installed. Installs Debian's `prometheus` package
# (which provides /usr/bin/promtool and /usr/bin/prometheus) without letting it start a service:
# the tests start their own Prometheus on a free port, and a packaged daemon on :9090 would only
# waste memory (or, on a developer machine, surprise its owner).
# With CI=true any failure exits non-zero; elsewhere a missing tool is a loud warning and exit 0,
# and the observability suite then skips loudly.
set -euo pipefail

have_all() { command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; }

give_up() {
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-prometheus: ERROR: $*" >&2
    exit 1
  fi
  {
    echo "########################################################################"
    echo "## ensure-prometheus: WARNING: $*"
    echo "## test/observability will SKIP the promtool and Prometheus tests."
    echo "## Fix: sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus"
    echo "########################################################################"
  } >&2
  exit 0
}

if have_all; then
  echo "ensure-prometheus: $(promtool --version 2>&1 | head -n1)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  give_up "promtool/prometheus are missing and this is not root, so they cannot be installed"
fi
command -v apt-get >/dev/null 2>&1 || give_up "promtool/prometheus are missing and apt-get is not available"

# Keep the package's init script from starting a daemon: policy-rc.d exit 101 means "action
# forbidden" to invoke-rc.d (Debian policy). Only install our own if none is present, and remove it
# again afterwards so the machine's policy is left as it was.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# temporary, from startup-lock scripts/ensure-prometheus.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=true
fi
cleanup() { if [ "$own_policy" = true ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
# Recommends would pull in prometheus-node-exporter, another daemon the tests do not need. Other
# ensure-*.sh scripts may be running apt at the same moment: wait for the dpkg lock, don't fail.
apt_opts=(-o DPkg::Lock::Timeout=300 -qq)
if ! { apt-get "${apt_opts[@]}" update && apt-get "${apt_opts[@]}" install -y --no-install-recommends prometheus >/dev/null; }; then
  give_up "apt-get install prometheus failed"
fi

# With systemd, policy-rc.d is still honoured by deb-systemd-invoke, but the unit stays enabled
# for the next boot: disable it. Without systemd (containers) there is nothing to disable.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
# Belt and braces for a sysvinit machine whose policy allowed the start anyway.
if command -v pgrep >/dev/null 2>&1 && pgrep -u prometheus -x prometheus >/dev/null 2>&1; then
  if command -v service >/dev/null 2>&1; then service prometheus stop >/dev/null 2>&1 || true; fi
fi

have_all || give_up "the prometheus package installed but promtool/prometheus are still not on PATH"
echo "ensure-prometheus: installed $(promtool --version 2>&1 | head -n1)"
