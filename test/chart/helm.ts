// Runs the real helm (unpacked into .tools/bin by scripts/ensure-helm.sh) against the charts in this repo
// and parses what it renders. Every suite calls requireHelm() first: with CI=true a missing helm fails the
// suite; on a developer machine the suite is skipped with a loud message, never silently.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { skipOrFail } from '../support/prerequisites.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const chartDir = path.join(repoRoot, 'chart');
export const libraryChartDir = path.join(chartDir, 'charts/startup-lock-client');
export const exampleChartDir = path.join(repoRoot, 'examples/app-chart');

export const RELEASE = 'lock';
export const NAMESPACE = 'startup-lock-system';

/** A rendered Kubernetes object; fields are checked by the tests and the kubernetes-models schemas. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class HelmMissingError extends Error {
  constructor() {
    super('helm not found in .tools/bin or on PATH; run `bash scripts/ensure-helm.sh`');
    this.name = 'HelmMissingError';
  }
}

function findOnPath(name: string): string | undefined {
  const local = path.join(repoRoot, '.tools/bin', name);
  if (existsSync(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The tool's path, or: throw under CI, skip the suite loudly elsewhere. */
export function requireTool(ctx: Mocha.Context, name: string, install: string): string {
  const found = findOnPath(name);
  if (found) return found;
  skipOrFail(ctx, `${name} not found in .tools/bin or on PATH; run \`${install}\``);
}

export function requireHelm(ctx: Mocha.Context): string {
  return requireTool(ctx, 'helm', 'bash scripts/ensure-helm.sh');
}

// helm keeps caches and repository config under $HOME; point them at a throwaway directory so the tests
// neither read nor change the developer's helm setup.
const helmHome = mkdtempSync(path.join(tmpdir(), 'startup-lock-helm-'));
process.once('exit', () => rmSync(helmHome, { recursive: true, force: true }));
const helmEnv = {
  ...process.env,
  HELM_CACHE_HOME: path.join(helmHome, 'cache'),
  HELM_CONFIG_HOME: path.join(helmHome, 'config'),
  HELM_DATA_HOME: path.join(helmHome, 'data'),
};

// Suites start many helm runs at once; a few at a time keep a small CI machine responsive.
const maxRunning = Math.max(2, availableParallelism() * 2);
let running = 0;
const waiting: (() => void)[] = [];

async function withSlot<T>(work: () => Promise<T>): Promise<T> {
  // A finishing run hands its slot straight to the next waiter, so `running` never overshoots.
  if (running >= maxRunning) await new Promise<void>((resolve) => waiting.push(resolve));
  else running += 1;
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  }
}

export function run(file: string, args: readonly string[], cwd = repoRoot): Promise<HelmResult> {
  return withSlot(() => spawnTool(file, args, cwd));
}

function spawnTool(file: string, args: readonly string[], cwd: string): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env: helmEnv, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

export function helm(args: readonly string[], cwd = repoRoot): Promise<HelmResult> {
  const found = findOnPath('helm');
  if (!found) return Promise.reject(new HelmMissingError());
  return run(found, args, cwd);
}

/** Parses a multi-document YAML stream, failing on any syntax error or duplicate key. */
export function parseObjects(stream: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(stream)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML is invalid: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    objects.push(value as K8sObject);
  }
  return objects;
}

export interface RenderOptions {
  chart?: string;
  valuesFiles?: readonly string[];
  set?: readonly string[];
  /** Values given as an object (written to a values file), so numbers and booleans keep their types. */
  values?: Record<string, unknown>;
  extraArgs?: readonly string[];
}

let valuesFileCount = 0;
function valuesFileFor(values: Record<string, unknown>): string {
  valuesFileCount += 1;
  const file = path.join(helmHome, `values-${valuesFileCount}.yaml`);
  // JSON is YAML too, and it keeps helm's YAML 1.1 parser from reading strings like `yes` as booleans.
  writeFileSync(file, JSON.stringify(values));
  return file;
}

function valuesArgs(opts: RenderOptions): string[] {
  const args: string[] = [];
  for (const file of opts.valuesFiles ?? []) args.push('--values', file);
  if (opts.values) args.push('--values', valuesFileFor(opts.values));
  for (const pair of opts.set ?? []) args.push('--set', pair);
  return args;
}

function templateArgs(opts: RenderOptions): string[] {
  const args = ['template', RELEASE, opts.chart ?? chartDir, '--namespace', NAMESPACE];
  return [...args, ...valuesArgs(opts), ...(opts.extraArgs ?? [])];
}

/** `helm template`, which must succeed; returns the rendered objects. */
export async function render(opts: RenderOptions = {}): Promise<K8sObject[]> {
  const result = await helm(templateArgs(opts));
  if (result.code !== 0) throw new Error(`helm template failed (${result.code}): ${result.stderr}`);
  return parseObjects(result.stdout);
}

/** `helm template` expected to fail; returns helm's result so the test can check the message. */
export function renderRaw(opts: RenderOptions = {}): Promise<HelmResult> {
  return helm(templateArgs(opts));
}

/** The NOTES.txt text of an install, rendered client-side (no cluster). */
export async function renderNotes(opts: RenderOptions = {}): Promise<string> {
  const args = ['install', RELEASE, opts.chart ?? chartDir, '--namespace', NAMESPACE, '--dry-run=client'];
  args.push(...valuesArgs(opts), '--output', 'json');
  const result = await helm(args);
  if (result.code !== 0) throw new Error(`helm install --dry-run failed (${result.code}): ${result.stderr}`);
  const release = JSON.parse(result.stdout) as { info?: { notes?: string } };
  return release.info?.notes ?? '';
}

export function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

export function get(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = find(objects, kind, name);
  if (!found) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`no ${kind}${name ? `/${name}` : ''} rendered; got ${have}`);
  }
  return found;
}

/** The --config files the chart renders: the DaemonSet's (server.yaml, health.yaml), the injector's. */
export type ConfigFile = 'server.yaml' | 'health.yaml' | 'inject.yaml';

/** A --config file the chart renders, as text: from whichever ConfigMap holds it. */
export function configText(objects: readonly K8sObject[], file: ConfigFile): string {
  type ConfigMap = K8sObject & { data?: Record<string, string> };
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && (o as ConfigMap).data?.[file] !== undefined) as
    | ConfigMap
    | undefined;
  const text = configMap?.data?.[file];
  if (text === undefined) throw new Error(`no ConfigMap has ${file}`);
  return text;
}

/** That --config file, parsed: option → value as the chart wrote it. */
export function configOptions(objects: readonly K8sObject[], file: ConfigFile): Record<string, unknown> {
  return parse(configText(objects, file)) as Record<string, unknown>;
}

/**
 * A container's args with its --config path pointing at a temporary copy of the rendered file, so the
 * real option loaders read exactly what the pod would. `cleanup` removes the copy.
 */
export function argsWithConfig(
  objects: readonly K8sObject[],
  args: readonly string[],
): { args: string[]; cleanup: () => void } {
  const i = args.indexOf('--config');
  if (i < 0) throw new Error('the container has no --config');
  const dir = mkdtempSync(path.join(tmpdir(), 'startup-lock-config-'));
  const file = path.join(dir, path.basename(args[i + 1] ?? ''));
  writeFileSync(file, configText(objects, path.basename(file) as ConfigFile));
  const out = [...args];
  out[i + 1] = file;
  return { args: out, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A copy of examples/app-chart depending on this checkout's library chart (not a released one), its
 * dependency built: what an app chart sees. `cleanup` removes it.
 */
export async function prepareAppChart(): Promise<{ appChart: string; cleanup: () => void }> {
  const workDir = mkdtempSync(path.join(tmpdir(), 'startup-lock-app-chart-'));
  const appChart = path.join(workDir, 'app-chart');
  cpSync(exampleChartDir, appChart, {
    recursive: true,
    filter: (src) => !src.includes(`${path.sep}charts`) && !src.endsWith('Chart.lock'),
  });
  const chartYaml = path.join(appChart, 'Chart.yaml');
  const relative = 'file://../../chart/charts/startup-lock-client';
  const text = readFileSync(chartYaml, 'utf8');
  if (!text.includes(relative)) throw new Error(`examples/app-chart/Chart.yaml no longer points at ${relative}`);
  writeFileSync(chartYaml, text.replace(relative, `file://${libraryChartDir}`));
  const built = await helm(['dependency', 'build', appChart]);
  if (built.code !== 0) throw new Error(`helm dependency build: ${built.stderr}`);
  return { appChart, cleanup: () => rmSync(workDir, { recursive: true, force: true }) };
}

/**
 * In the calling `describe`: before its tests, prepare the app chart (skipping without helm) and hand
 * its path to `ready`; after them, remove it.
 */
export function withAppChart(ready: (appChart: string) => void): void {
  let cleanup: (() => void) | undefined;
  before(async function () {
    requireHelm(this);
    const prepared = await prepareAppChart();
    cleanup = prepared.cleanup;
    ready(prepared.appChart);
  });
  after(function () {
    cleanup?.();
  });
}
