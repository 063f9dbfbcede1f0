// Real processes for the live tests: the startup-lock server, Prometheus, and a dependency that
// flips between healthy and failing. Each start waits for the process to say it is ready (a log
// line, never a fixed sleep), is bounded in time, and returns something with stop().
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { freePort } from '../../support/net.js';
import { startProcess as start } from '../../support/processes.js';
import { SERVER_BIN } from './tools.js';

export class ProcessStartError extends Error {
  override name = 'ProcessStartError';
}

export interface Started {
  child: ChildProcess;
  /** The first output line that matched the readiness pattern. */
  readyLine: string;
  /** Everything the process printed so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

/** Spawns `command` and resolves once a line of its stdout or stderr matches `ready`. */
export async function startProcess(
  command: string,
  args: string[],
  ready: RegExp,
  timeoutMs = 20_000,
): Promise<Started> {
  const proc = start(args, {}, { command });
  try {
    const readyLine = await proc.waitForOutput(
      (p) =>
        p
          .output()
          .split('\n')
          .slice(0, -1)
          .find((l) => ready.test(l)),
      `a line matching ${ready}`,
      timeoutMs,
    );
    return { child: proc.child, readyLine, output: proc.output, stop: () => proc.stop() };
  } catch (err) {
    await proc.stop();
    throw new ProcessStartError(`${command} ${args.join(' ')}: ${(err as Error).message}`);
  }
}

export interface LockServer extends Started {
  port: number;
  url: string;
}

/** `startup-lock server` on 127.0.0.1 and an ephemeral port, read back from its ready log line. */
export async function startLockServer(args: string[]): Promise<LockServer> {
  const started = await startProcess(
    process.execPath,
    [SERVER_BIN, 'server', '--host', '127.0.0.1', '--port', '0', '--log-level', 'info', ...args],
    /"msg":"startup-lock server ready"/,
  );
  const { port } = JSON.parse(started.readyLine) as { port: number };
  return { ...started, port, url: `http://127.0.0.1:${port}` };
}

export interface Prometheus extends Started {
  url: string;
}

/** A real Prometheus scraping `targets` every second, with `ruleFiles` loaded, storage in `dir`. */
export async function startPrometheus(
  dir: string,
  targets: string[],
  ruleFiles: string[],
): Promise<Prometheus> {
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    JSON.stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: ruleFiles,
      scrape_configs: [{ job_name: 'startup-lock', static_configs: [{ targets }] }],
    }),
  );
  const port = await freePort();
  const started = await startProcess(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ],
    /Server is ready to receive web requests/,
    30_000,
  );
  return { ...started, url: `http://127.0.0.1:${port}` };
}

export interface Flipper {
  url: string;
  /** How many times it answered 503 and 204. */
  answers: { failing: number; healthy: number };
  stop(): Promise<void>;
}

/** An HTTP dependency that answers 204, then 503, switching every `periodMs`. */
export async function startFlipper(periodMs: number): Promise<Flipper> {
  let healthy = true;
  const answers = { failing: 0, healthy: 0 };
  const server: Server = createHttpServer((_req, res) => {
    if (healthy) answers.healthy++;
    else answers.failing++;
    res.writeHead(healthy ? 204 : 503).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const timer = setInterval(() => (healthy = !healthy), periodMs);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    answers,
    stop: async () => {
      clearInterval(timer);
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
