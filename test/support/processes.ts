// Start the real bin/startup-lock as a child process and talk to it; every process started here is
// killed by stopAll() (call it in afterEach).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/startup-lock', import.meta.url));

const running = new Set<ChildProcess>();

export interface Proc {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** JSON log lines parsed from stdout. */
  logs(): Record<string, unknown>[];
  /** Resolves with the first log line matching, waiting up to timeoutMs. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startProcess(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  const waiters: (() => void)[] = [];
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = once(child, 'exit').then(([code, signal]) => {
    running.delete(child);
    for (const w of [...waiters]) w();
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
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
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = logs().find(match);
        if (found) {
          done();
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(new Error(`process exited before the expected log line:\n${out}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for a log line:\n${out}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        const i = waiters.indexOf(check);
        if (i >= 0) waiters.splice(i, 1);
      };
      waiters.push(check);
      check();
    });
  return { child, output: () => out, logs, waitForLog, exited };
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

/** SIGTERM (then SIGKILL after a while) every process still running. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }),
  );
}
