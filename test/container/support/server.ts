// A `startup-lock server` container on the host network, talked to from the host over 127.0.0.1.
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartedTestContainer } from 'testcontainers';
import { HardenedContainer, containerLogs, containerState } from './docker.js';

/** Where the state-file volume is mounted in the container (the chart's hostPath is the same). */
export const stateDirInContainer = '/var/lib/startup-lock';

export { freePort } from '../../support/net.js';

/** A host directory for the state file, writable by the image's UID (65532) and nobody else's business. */
export async function makeStateDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'startup-lock-state-'));
  if (process.getuid?.() === 0) await chown(path, 65532, 65532);
  else await chmod(path, 0o777);
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface ServerOptions {
  image: string;
  port: number;
  /** Extra `server` flags, e.g. ['--locks', '2']. */
  args?: string[];
  /** Host directory mounted read-write for --state-file. */
  stateDir?: string;
  name?: string;
}

export interface RunningServer {
  container: StartedTestContainer;
  baseUrl: string;
  /** From asking Docker to create the container to the first 200 from /readyz. */
  startToReadyMs: number;
}

export function serverCommand(options: ServerOptions): string[] {
  const command = ['server', '--host', '127.0.0.1', '--port', String(options.port)];
  if (options.stateDir !== undefined) command.push('--state-file', `${stateDirInContainer}/state.json`);
  return [...command, ...(options.args ?? [])];
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const baseUrl = `http://127.0.0.1:${options.port}`;
  let container = new HardenedContainer(options.image).withCommand(serverCommand(options));
  if (options.stateDir !== undefined) {
    container = container.withBindMounts([
      { source: options.stateDir, target: stateDirInContainer, mode: 'rw' },
    ]);
  }
  if (options.name !== undefined) container = container.withName(options.name);
  const started = Date.now();
  const running = await container.start();
  try {
    await waitReady(baseUrl, running.getId(), 30_000);
  } catch (err) {
    const logs = await containerLogs(running.getId());
    await running.stop().catch(() => undefined);
    throw new Error(`${(err as Error).message}\n--- server logs ---\n${logs}`);
  }
  return { container: running, baseUrl, startToReadyMs: Date.now() - started };
}

/**
 * Polls /readyz until it answers 200. Polling is the only way to see another process become ready
 * from outside it; the interval is short so the start-to-ready figure is accurate to ~20 ms.
 */
export async function waitReady(baseUrl: string, containerId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
      const state = await containerState(containerId);
      if (!state.running)
        throw new Error(`server container exited (code ${state.exitCode}) before it was ready`);
    }
    await new Promise((wake) => setTimeout(wake, 20));
  }
  throw new Error(`server at ${baseUrl} not ready after ${timeoutMs} ms (last: ${last})`);
}
