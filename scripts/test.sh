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
npx c8 --reporter=text-summary --reporter=lcov --src src --exclude 'test/**' --exclude 'bench/**' \
  mocha "${suites[@]}"
