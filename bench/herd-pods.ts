// The pods of the herd benchmark (bench/herd.ts), as real processes: the simulated app
// (bench/herd-app.ts) built, calibrated and run; each mode's init step (the original's polling client
// simulated in this process, the real `startup-lock acquire`, or the lease API polled from here); and
// the CPU accounting that tells the run's own work from the rest of the machine's.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppReport } from './herd-app.js';
import { BIN, type BenchServer } from './lib.js';
import { HerdUsageError } from './herd-options.js';

const LEGACY_POLL_MS = 1000;
const LEGACY_REQUEST_TIMEOUT_MS = 1000;

/** Every app and client process still running, so a failed run leaves none behind. */
const running = new Set<ChildProcess>();

export function track<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once('close', () => running.delete(child));
  return child;
}

export function stopChildren(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Epoch milliseconds with sub-millisecond precision, comparable with the apps' own clocks. */
export const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The simulated app, as a child process.

/**
 * Transpiles herd-app.ts to plain JavaScript in a temporary directory, so the children boot like a
 * small app (no TypeScript loader). Returns the file and a cleanup.
 */
export async function buildApp(): Promise<{ appJs: string; remove(): void }> {
  const ts = (await import('typescript')).default;
  const source = readFileSync(new URL('./herd-app.ts', import.meta.url), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const dir = mkdtempSync(join(tmpdir(), 'startup-lock-herd-'));
  const appJs = join(dir, 'herd-app.mjs');
  writeFileSync(appJs, outputText);
  return { appJs, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs one app to ready. With a release URL the harness DELETEs the lease the moment the app's ready
 * line arrives: the server's --release-on-ready does that on the pod's Ready condition, and the app
 * itself pays nothing for it.
 */
export function runApp(
  node: string,
  appJs: string,
  iterations: number,
  releaseUrl?: string,
): Promise<AppReport & { releaseStatus: number | null }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, HERD_ITERATIONS: String(iterations) };
    const child = track(spawn(node, [appJs], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    let released: Promise<number | null> = Promise.resolve(null);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (releaseUrl && out.includes('\n')) {
        released = statusOf(releaseUrl, 'DELETE', 5000);
        releaseUrl = undefined;
      }
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`app exited with ${code}`));
      const report = JSON.parse(out.trim().split('\n').pop()!) as AppReport;
      released.then((releaseStatus) => resolve({ ...report, releaseStatus }), reject);
    });
  });
}

/**
 * Runs one app that serves a readiness endpoint on `port` once its start-up is done (the kubelet
 * modes): `started` is called when its process has started (the container is running), and the
 * promise resolves with its report when it is ready. The process keeps running; `stop` ends it.
 */
export function runListeningApp(
  node: string,
  appJs: string,
  iterations: number,
  port: number,
  started: () => void,
): { ready: Promise<AppReport & { releaseStatus: null }>; stop(): Promise<void> } {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HERD_ITERATIONS: String(iterations),
    HERD_PORT: String(port),
  };
  const child = track(spawn(node, [appJs], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const ready = new Promise<AppReport & { releaseStatus: null }>((resolve, reject) => {
    let out = '';
    child.once('spawn', started);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve({ ...(JSON.parse(line) as AppReport), releaseStatus: null });
    });
    child.once('error', reject);
    child.once('close', (code) => reject(new Error(`app exited with ${code} before it was ready`)));
  });
  return {
    ready,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One request, its status; 0 when it failed or timed out. */
function statusOf(url: string, method: 'GET' | 'DELETE', timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/**
 * Busy-loop steps that make a lone app's whole start-up, boot included, W CPU-seconds: an app that
 * starts in W CPU-s spends some of them booting its runtime, and a lock cannot spare it that.
 */
export async function calibrate(
  node: string,
  appJs: string,
  workS: number,
): Promise<{ iterations: number; solo: AppReport }> {
  const target = workS * 1000;
  let iterations = 50_000_000;
  let solo = await runApp(node, appJs, iterations);
  for (let round = 0; round < 8; round++) {
    const bootMs = solo.processCpuMs - solo.workCpuMs;
    if (bootMs >= 0.5 * target)
      throw new HerdUsageError([
        `--work ${workS}: an app's boot alone takes ${Math.round(bootMs)} ms of CPU here; W must be at least twice that`,
      ]);
    iterations = Math.max(1, Math.round((iterations * (target - bootMs)) / Math.max(solo.workCpuMs, 1)));
    solo = await runApp(node, appJs, iterations);
    if (Math.abs(solo.processCpuMs - target) <= 0.01 * target) break;
  }
  return { iterations, solo };
}

// ---------------------------------------------------------------------------------------------
// Init containers: how each mode waits for its turn before the app starts.

export interface Granted {
  /** DELETE this to release the lease when ready; none for modes without release. */
  releaseUrl?: string;
}

export type Init = (i: number) => Promise<Granted>;

/**
 * pod-startup-lock's init client: `GET /` until 200, pausing 1 s after anything else. It is a Go
 * binary whose own start-up costs next to nothing, so it is simulated here in the harness process.
 */
export function legacyInit(server: BenchServer, durationS: number | null): Init {
  const url = durationS === null ? `${server.url}/` : `${server.url}/?duration=${durationS}`;
  return async () => {
    while ((await statusOf(url, 'GET', LEGACY_REQUEST_TIMEOUT_MS)) !== 200) await sleep(LEGACY_POLL_MS);
    return {};
  };
}

/** The real `startup-lock acquire` as a process; the lease id comes from its "lock acquired" line. */
export function acquireInit(node: string, server: BenchServer, durationS: number): Init {
  return async (i) => {
    const holder = `bench/app-${i}`;
    const args = ['--host', '127.0.0.1', '--port', String(server.port)];
    args.push('--holder', holder, '--duration', String(durationS));
    const child = track(spawn(node, [BIN, 'acquire', ...args], { stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    if (code !== 0) throw new Error(`acquire for ${holder} exited with ${code}:\n${out}`);
    const id = leaseIdFrom(out) ?? (await lookUpLease(server, holder));
    return { releaseUrl: `${server.url}/v1/leases/${encodeURIComponent(id)}` };
  };
}

function leaseIdFrom(log: string): string | undefined {
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string; lease?: unknown };
    if (entry.msg === 'lock acquired' && typeof entry.lease === 'string') return entry.lease;
  }
  return undefined;
}

/** A holder that already holds a lease gets the same one back: the app can always find its own. */
async function lookUpLease(server: BenchServer, holder: string): Promise<string> {
  const { status, body } = await postLease(server, { holder, wait: '0' });
  const lease = status === 200 ? (JSON.parse(body) as { id?: string }) : {};
  if (!lease.id) throw new Error(`no lease for ${holder}: ${status} ${body}`);
  return lease.id;
}

/**
 * Diagnostic: the same lease API long-polled from the harness, so no client process boots. The gap
 * between this mode and startup-lock is what the acquire process itself costs (Node's start-up).
 */
export function leaseApiInit(server: BenchServer, durationS: number): Init {
  return async (i) => {
    const q = { holder: `bench/app-${i}`, duration: String(durationS), wait: '55' };
    for (;;) {
      const started = now();
      const { status, body } = await postLease(server, q);
      if (status === 200) {
        const { id } = JSON.parse(body) as { id: string };
        return { releaseUrl: `${server.url}/v1/leases/${encodeURIComponent(id)}` };
      }
      if (status !== 423) throw new Error(`lease for ${q.holder}: ${status} ${body}`);
      // A 423 that did not wait (server not ready, draining) is not retried faster than the original.
      await sleep(Math.max(0, LEGACY_POLL_MS - (now() - started)));
    }
  };
}

function postLease(
  server: BenchServer,
  query: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const q = new URLSearchParams(query);
    const req = request(`${server.url}/v1/leases?${q}`, { method: 'POST' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// CPU accounting, to tell our own work from the rest of the machine's.

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** ms of CPU from /proc/<pid>/stat: utime+stime, or with `children` the reaped children's cutime+cstime. */
export function procCpuMs(pid: number | 'self', children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // Fields after the name start at field 3 (state): utime is field 14, so index 11 here.
    const ticks = children ? f[13]! + f[14]! : f[11]! + f[12]!;
    return (ticks * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Busy CPU ms of the whole machine, all cores (everything but idle and iowait). */
export function machineBusyMs(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return ((total - f[3]! - f[4]!) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}
