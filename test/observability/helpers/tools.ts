// Finding the external tools this suite needs (promtool, prometheus, a built server) and the
// project rule for when they are missing: with CI=true the test fails; elsewhere it skips, loudly.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import type { Context } from 'mocha';
import { skipOrFail } from '../../support/prerequisites.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../../..');
export const RULES_FILE = resolve(REPO_ROOT, 'chart/files/prometheus-rules.yaml');
export const RULES_TEST_FILE = resolve(REPO_ROOT, 'test/observability/rules.test.yaml');
export const RUNBOOK_FILE = resolve(REPO_ROOT, 'docs/runbook.md');
export const SERVER_BIN = resolve(REPO_ROOT, 'bin/startup-lock');
const SERVER_ENTRY = resolve(REPO_ROOT, 'dist/cli.js');

export { MissingPrerequisiteError } from '../../support/prerequisites.js';

/** The absolute path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

/**
 * Skips the current test (or hook's tests) loudly when `missing` names something absent; with
 * CI=true throws instead, so CI can never pass by skipping.
 */
export function requireOrSkip(ctx: Context, missing: string | undefined): void {
  if (missing) skipOrFail(ctx, `test/observability: ${missing}`);
}

/** Returns the tool's path, or skips/fails through requireOrSkip. */
export function requireTool(ctx: Context, name: 'promtool' | 'prometheus'): string {
  const path = which(name);
  requireOrSkip(ctx, path ? undefined : `${name} is not installed (run: bash scripts/ensure-prometheus.sh)`);
  return path ?? name;
}

/** Skips/fails unless the server has been built (bin/startup-lock imports dist/cli.js). */
export function requireBuiltServer(ctx: Context): void {
  requireOrSkip(
    ctx,
    existsSync(SERVER_ENTRY) ? undefined : `${SERVER_ENTRY} is missing (run: npm run build)`,
  );
}
