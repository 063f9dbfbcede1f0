// Helpers for the `startup-lock run` tests: start the real binary with stdout and stderr kept apart,
// and await what the wrapped commands write to files — events, never sleeps.
import { watch as watchDir } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { startProcess, type Proc } from './processes.js';

export interface RunProc {
  proc: Proc['child'];
  /** Resolves with the exit code (128+N when killed by signal N). */
  exited: Promise<number>;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr contains `text`; rejects on timeout or if the process exits first. */
  waitForStderr(text: string, timeoutMs?: number): Promise<void>;
  stop(graceMs?: number): Promise<void>;
}

/** bin/startup-lock with exactly `env` as its environment. */
export function startBin(args: readonly string[], env: NodeJS.ProcessEnv): RunProc {
  const p = startProcess([...args], env, { replaceEnv: true });
  const waitForStderr = async (text: string, timeoutMs = 10_000) => {
    await p.waitForOutput(
      () => (p.stderr().includes(text) ? true : undefined),
      JSON.stringify(text),
      timeoutMs,
    );
  };
  return {
    proc: p.child,
    exited: p.exitCode,
    stdout: p.stdout,
    stderr: p.stderr,
    waitForStderr,
    stop: p.stop,
  };
}

/** Stop a process if it still runs: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopBin(started: RunProc, graceMs = 3000): Promise<void> {
  await started.stop(graceMs);
}

export async function readLines(file: string): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Resolve with the file's lines once `predicate` holds for them (checked now and on every change). */
export function waitForLines(
  file: string,
  predicate: (lines: string[]) => boolean,
  timeoutMs = 10_000,
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let done = false;
    const watcher = watchDir(dirname(file), () => void check());
    const timer = setTimeout(() => {
      void readLines(file).then((lines) => {
        finish();
        reject(
          new Error(`timed out after ${timeoutMs}ms waiting on ${file}; it has: ${JSON.stringify(lines)}`),
        );
      });
    }, timeoutMs);
    const finish = () => {
      done = true;
      clearTimeout(timer);
      watcher.close();
    };
    const check = async () => {
      const lines = await readLines(file);
      if (!done && predicate(lines)) {
        finish();
        resolve(lines);
      }
    };
    void check();
  });
}

/** Is the process alive? A zombie waiting to be reaped counts as dead. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
