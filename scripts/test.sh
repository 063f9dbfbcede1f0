#!/usr/bin/env bash
# The project's one test command (`npm test`): lint, typecheck, build, then every suite under coverage.
# Each suite's prerequisites (helm, Docker engine, promtool) are installed by scripts/ensure-*.sh,
# which are idempotent. With CI=true a suite that cannot get what it needs fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "lint"
npx eslint .
npx prettier --check .

step "typecheck and build"
npx tsc -p tsconfig.json --noEmit
npm run build --silent

for ensure in scripts/ensure-*.sh; do
  [ -e "$ensure" ] || continue
  step "prerequisites: $ensure"
  bash "$ensure"
done
export PATH="$PWD/.tools/bin:$PATH"

suites=()
for dir in unit integration k8s chart observability container; do
  if compgen -G "test/$dir/*.test.ts" >/dev/null || compgen -G "test/$dir/**/*.test.ts" >/dev/null; then
    suites+=("test/$dir/**/*.test.ts")
  fi
done

step "tests: ${suites[*]}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
npx c8 --reporter=text-summary --reporter=lcov --src src --exclude 'test/**' --exclude 'bench/**' \
  mocha "${suites[@]}" 2>&1 | tee "$log" || status=$?
# One plain closing line for CI, from mocha's own counts.
passed="$(grep -Eo '^ +[0-9]+ passing' "$log" | grep -Eo "[0-9]+" | tail -n 1 || true)"
failed="$(grep -Eo '^ +[0-9]+ failing' "$log" | grep -Eo "[0-9]+" | tail -n 1 || true)"
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
exit "$status"
