// Helpers for the `startup-lock run` tests: start the real binary with stdout and stderr kept apart,
// and await what the wrapped commands write to files — events, never sleeps.
import { spawn, type ChildProcess } from 'node:child_process';
import { watch as watchDir } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BIN } from './processes.js';

export interface RunProc {
  proc: ChildProcess;
  /** Resolves with the exit code (128+N when killed by signal N). */
  exited: Promise<number>;
  stdout(): string;
  stderr(): string;
  /** Resolves once stderr contains `text`; rejects on timeout or if the process exits first. */
  waitForStderr(text: string, timeoutMs?: number): Promise<void>;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

export function startBin(args: readonly string[], env: NodeJS.ProcessEnv): RunProc {
  const proc = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number>((resolve) => {
    proc.on('close', (code, signal) => resolve(signal ? 128 + (SIGNALS[signal] ?? 0) : (code ?? 0)));
  });
  const waitForStderr = (text: string, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!err.includes(text)) return;
        finish();
        resolve();
      };
      const onExit = () => {
        finish();
        reject(new Error(`process exited before writing ${JSON.stringify(text)} to stderr:\n${err}`));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out waiting for ${JSON.stringify(text)} on stderr:\n${err}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        proc.stderr?.off('data', check);
        proc.off('close', onExit);
      };
      proc.stderr?.on('data', check);
      proc.once('close', onExit);
      check();
    });
  return { proc, exited, stdout: () => out, stderr: () => err, waitForStderr };
}

/** Stop a process if it still runs: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopBin(started: RunProc, graceMs = 3000): Promise<void> {
  if (started.proc.exitCode !== null || started.proc.signalCode !== null) return;
  started.proc.kill('SIGTERM');
  const timer = setTimeout(() => started.proc.kill('SIGKILL'), graceMs);
  await started.exited;
  clearTimeout(timer);
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
