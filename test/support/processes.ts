// The one way tests start a process: the real bin/startup-lock (or, with `command`, any program) as a
// child, its output kept (stdout and stderr together and apart), bounded waits on what it prints, and
// stop(). Every process started here is killed by stopAll() (call it in afterEach).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { signalExitCode } from '../../src/signals.js';

export const BIN = fileURLToPath(new URL('../../bin/startup-lock', import.meta.url));

const running = new Set<Proc>();

export interface Proc {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** JSON log lines parsed from stdout. */
  logs(): Record<string, unknown>[];
  /** Resolves with the first log line matching, waiting up to timeoutMs. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Resolves with `found(output)` once it is not undefined; rejects on timeout or if the process exits first. */
  waitForOutput<T>(found: (p: Proc) => T | undefined, what: string, timeoutMs?: number): Promise<T>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** After the output is complete: the exit code, 128+N when killed by signal N. */
  exitCode: Promise<number>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** A program other than bin/startup-lock (`args` are then its own). */
  command?: string;
  /** Use `env` as the whole environment instead of adding it to this process's. */
  replaceEnv?: boolean;
}

export function startProcess(args: string[], env: NodeJS.ProcessEnv = {}, opts: StartOptions = {}): Proc {
  const [command, argv] = opts.command ? [opts.command, args] : [process.execPath, [BIN, ...args]];
  const child = spawn(command, argv, {
    env: opts.replaceEnv ? env : { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  const onData = (chunk: Buffer, stream: 'stdout' | 'stderr') => {
    const text = chunk.toString();
    out += text;
    if (stream === 'stdout') stdout += text;
    else stderr += text;
    for (const w of [...waiters]) w();
  };
  child.stdout!.on('data', (c: Buffer) => onData(c, 'stdout'));
  child.stderr!.on('data', (c: Buffer) => onData(c, 'stderr'));
  child.once('error', (err) => {
    out += `spawn failed: ${err.message}\n`;
    for (const w of [...waiters]) w();
  });
  // Plain listeners, not events.once: a spawn error must not turn into an unhandled rejection.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(proc);
      for (const w of [...waiters]) w();
      resolve({ code, signal });
    }),
  );
  // 'close' comes after the last output: a wait never gives up before reading all of it.
  let closed = false;
  const exitCode = new Promise<number>((resolve) =>
    child.once('close', (code, signal) => {
      closed = true;
      for (const w of [...waiters]) w();
      resolve(signal ? signalExitCode(signal) : (code ?? 0));
    }),
  );
  const logs = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  const waitForOutput = <T>(found: (p: Proc) => T | undefined, what: string, timeoutMs = 10_000) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = found(proc);
        if (value !== undefined) {
          done();
          resolve(value);
        } else if (closed || child.pid === undefined) {
          done();
          reject(new Error(`process exited before ${what}:\n${out}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}:\n${out}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        const i = waiters.indexOf(check);
        if (i >= 0) waiters.splice(i, 1);
      };
      waiters.push(check);
      check();
    });
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000) =>
    waitForOutput(() => logs().find(match), 'the expected log line', timeoutMs);
  const stop = async (graceMs = 5000) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
  };
  const proc: Proc = {
    child,
    output: () => out,
    stdout: () => stdout,
    stderr: () => stderr,
    logs,
    waitForLog,
    waitForOutput,
    exited,
    exitCode,
    stop,
  };
  running.add(proc);
  return proc;
}

export interface ServerProc extends Proc {
  port: number;
  url: string;
}

/** Start `startup-lock server` on 127.0.0.1 with a free port and wait until it is ready. */
export async function startServer(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerProc> {
  const proc = startProcess(['server', '--host', '127.0.0.1', '--port', '0', ...args], env);
  const ready = await proc.waitForLog((l) => l.msg === 'startup-lock server ready');
  const port = ready.port as number;
  return { ...proc, port, url: `http://127.0.0.1:${port}` };
}

/**
 * `startup-lock server --release-on-ready` with one slot, watching `node`'s pods through `kubeconfig`
 * (a fake API), once its pod watch is open.
 */
export async function startReleasingServer(
  api: { waitForWatches(resource: string): Promise<void> },
  kubeconfig: string,
  node: string,
  extra: string[] = [],
): Promise<ServerProc> {
  const s = await startServer([
    '--release-on-ready',
    '--node-name',
    node,
    '--kubeconfig',
    kubeconfig,
    '--locks',
    '1',
    ...extra,
  ]);
  await api.waitForWatches('pods');
  return s;
}

export interface InjectorProc extends Proc {
  port: number;
  healthPort: number;
}

/** Start `startup-lock inject` on 127.0.0.1 with free ports for both listeners and wait until it listens. */
export async function startInjector(args: string[], env: NodeJS.ProcessEnv = {}): Promise<InjectorProc> {
  const proc = startProcess(
    ['inject', '--host', '127.0.0.1', '--port', '0', '--health-port', '0', ...args],
    env,
  );
  const listening = await proc.waitForLog((l) => l.msg === 'startup-lock inject listening');
  return { ...proc, port: listening.port as number, healthPort: listening.healthPort as number };
}

/** SIGTERM (then SIGKILL after a while) every process still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}
