// A real OCI registry for the release suite: Debian's docker-registry (CNCF Distribution) on 127.0.0.1,
// a free port and a temporary storage directory, started and stopped by the test. What else the
// release needs (qemu for arm64, helm) is checked here too, so a missing tool fails in CI and skips
// loudly elsewhere, like the rest of the container suite.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { skipOrFail } from '../../support/prerequisites.js';
import { repoRoot } from './docker.js';
import { freePort } from './server.js';

const run = promisify(execFile);

export const helmBin = existsSync(join(repoRoot, '.tools/bin/helm'))
  ? join(repoRoot, '.tools/bin/helm')
  : 'helm';

/** Why the release suite cannot run here, or null. */
export async function releaseToolsProblem(): Promise<string | null> {
  const missing: string[] = [];
  if (
    !(await run('docker-registry', ['--version']).then(
      () => true,
      () => false,
    ))
  ) {
    missing.push('docker-registry (bash scripts/ensure-registry.sh)');
  }
  if (
    !(await run(helmBin, ['version', '--short']).then(
      () => true,
      () => false,
    ))
  ) {
    missing.push('helm (bash scripts/ensure-helm.sh)');
  }
  const binfmt = '/proc/sys/fs/binfmt_misc/qemu-aarch64';
  const arm64Runs =
    process.arch === 'arm64' || (existsSync(binfmt) && readFileSync(binfmt, 'utf8').startsWith('enabled'));
  if (!arm64Runs)
    missing.push('qemu-user-static with its binfmt entry enabled (bash scripts/ensure-qemu.sh, as root)');
  return missing.length === 0 ? null : `missing ${missing.join('; ')}`;
}

export async function requireReleaseTools(ctx: Mocha.Context): Promise<void> {
  const problem = await releaseToolsProblem();
  if (problem === null) return;
  skipOrFail(ctx, `release tools: ${problem}`);
}

export interface RunningRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  host: string;
  stop(): Promise<void>;
}

export async function startRegistry(): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'startup-lock-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log: {level: warn}',
      `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}}`,
      `http: {addr: "${host}"}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  // Another process answering /v2/ is the only sign the registry listens: poll it briefly.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const ok = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) }).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok) return { host, stop };
    await new Promise((wake) => setTimeout(wake, 100));
  }
  await stop();
  throw new Error(`docker-registry did not answer on ${host}:\n${stderr}`);
}

/** Every repository and its tags, from the registry's catalog. */
export async function registryTags(host: string): Promise<Record<string, string[]>> {
  const catalog = (await (await fetch(`http://${host}/v2/_catalog`)).json()) as {
    repositories: string[] | null;
  };
  const tags: Record<string, string[]> = {};
  for (const repository of catalog.repositories ?? []) {
    const list = (await (await fetch(`http://${host}/v2/${repository}/tags/list`)).json()) as {
      tags: string[] | null;
    };
    tags[repository] = list.tags ?? [];
  }
  return tags;
}

/**
 * An HTTP proxy in front of a registry that answers 500 to the requests `fails` picks, so a test can
 * make one push of a release fail midway.
 */
export async function startFailingProxy(
  upstream: string,
  fails: (method: string, url: string) => boolean,
): Promise<{ host: string; stop(): Promise<void> }> {
  const [upstreamHost, upstreamPort] = upstream.split(':');
  const server = createHttpServer((req, res) => {
    if (fails(req.method ?? '', req.url ?? '')) {
      req.resume();
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNKNOWN","message":"failing on purpose (test proxy)"}]}');
      return;
    }
    const forward = httpRequest(
      {
        host: upstreamHost,
        port: Number(upstreamPort),
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  const port = await freePort();
  await new Promise<void>((resolveListen) => server.listen(port, '127.0.0.1', resolveListen));
  return {
    host: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}
