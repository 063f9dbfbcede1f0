// The container suite's access to Docker: is an engine there (and what to do when it is not), the
// image built once per run from the project's Dockerfile, and containers hardened the way the chart
// runs them (read-only root, no capabilities, non-root UID, host network on 127.0.0.1).
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import { skipOrFail } from '../../support/prerequisites.js';

// No reaper container: it would have to be pulled, and nothing can be pulled here. Each test stops
// what it started instead.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
// Containers share the host's network and are reached on 127.0.0.1. Without this, testcontainers run
// inside a container (/.dockerenv) looks for the "bridge" network's gateway, which dockerd started
// with --bridge=none does not have.
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';

const run = promisify(execFile);

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The UID the image runs as (distroless "nonroot"); tests also force it with --user. */
export const imageUser = '65532:65532';

async function docker(args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run('docker', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

let engine: Promise<string | null> | undefined;

/** null when an engine answers, else why not. */
export function dockerProblem(): Promise<string | null> {
  engine ??= docker(['version', '--format', '{{.Server.Version}}'], 15_000).then(
    () => null,
    (err: Error & { stderr?: string }) =>
      `no Docker engine answers (${(err.stderr ?? err.message).trim().split('\n')[0]}); ` +
      'run `bash scripts/ensure-docker.sh` (as root) to install and start one',
  );
  return engine;
}

/**
 * Call in a suite's `before`: with CI=true a missing engine fails the suite; elsewhere the suite is
 * skipped, loudly, with the reason.
 */
export async function requireDocker(ctx: Mocha.Context): Promise<void> {
  const problem = await dockerProblem();
  if (problem === null) return;
  skipOrFail(ctx, `container engine: ${problem}`);
}

export interface BuiltImage {
  tag: string;
  sizeBytes: number;
  buildMs: number;
}

export const imageTag = process.env.STARTUP_LOCK_E2E_IMAGE ?? 'startup-lock:e2e';
const buildImageArg = process.env.STARTUP_LOCK_BUILD_IMAGE ?? 'startup-lock/node-build:local';
const runtimeImageArg = process.env.STARTUP_LOCK_RUNTIME_IMAGE ?? 'startup-lock/node-runtime:local';

let built: Promise<BuiltImage> | undefined;

/**
 * Builds the image from the Dockerfile once per test run (every suite shares it), on the local base
 * images, with the host network so npm reaches the registry. Layer caching keeps a rebuild cheap.
 * STARTUP_LOCK_E2E_SKIP_BUILD=true uses an image already tagged STARTUP_LOCK_E2E_IMAGE.
 */
export function builtImage(): Promise<BuiltImage> {
  built ??= (async () => {
    const started = Date.now();
    if (process.env.STARTUP_LOCK_E2E_SKIP_BUILD !== 'true') {
      await logged('bash', [join(repoRoot, 'scripts/docker-base-images.sh')], 'base-images.log');
      await logged(
        'docker',
        [
          'build',
          '--network',
          'host',
          // A failed step must not leave its container behind (the legacy builder keeps it otherwise).
          '--force-rm',
          '--build-arg',
          `BUILD_IMAGE=${buildImageArg}`,
          '--build-arg',
          `RUNTIME_IMAGE=${runtimeImageArg}`,
          '--build-arg',
          'VERSION=0.0.0-e2e',
          '--tag',
          imageTag,
          repoRoot,
        ],
        'build.log',
      );
    }
    const buildMs = Date.now() - started;
    const sizeBytes = Number(await docker(['image', 'inspect', '--format', '{{.Size}}', imageTag]));
    return { tag: imageTag, sizeBytes, buildMs };
  })();
  return built;
}

/** Runs a long command with its output in .cache/container-tests/NAME; the tail is in the error. */
async function logged(command: string, args: string[], name: string): Promise<void> {
  const logPath = join(repoRoot, '.cache/container-tests', name);
  await mkdir(dirname(logPath), { recursive: true });
  const out = createWriteStream(logPath);
  let tail = '';
  const code = await new Promise<number | null>((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      out.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', resolvePromise);
  });
  await new Promise((resolveEnd) => out.end(resolveEnd));
  if (code !== 0) throw new Error(`${command} ${args[0] ?? ''} exited ${code} (log: ${logPath}):\n${tail}`);
}

/** GenericContainer plus the one hardening option it lacks: a read-only root filesystem. */
export class HardenedContainer extends GenericContainer {
  /** Read-only root, every capability dropped, the image's non-root UID, the host's network. */
  constructor(image: string) {
    super(image);
    this.hostConfig.ReadonlyRootfs = true;
    this.withDroppedCapabilities('ALL')
      .withUser(imageUser)
      .withNetworkMode('host')
      .withSecurityOpt('no-new-privileges');
  }
}

export interface ContainerState {
  running: boolean;
  exitCode: number;
  oomKilled: boolean;
}

export async function containerState(id: string): Promise<ContainerState> {
  const json = await docker(['inspect', '--format', '{{json .State}}', id]);
  const state = JSON.parse(json) as { Running: boolean; ExitCode: number; OOMKilled: boolean };
  return { running: state.Running, exitCode: state.ExitCode, oomKilled: state.OOMKilled };
}

/** Waits for the container to exit (without signalling it) and returns its exit code. */
export async function waitForExit(id: string, timeoutMs: number): Promise<number> {
  return Number(await docker(['wait', id], timeoutMs));
}

/** `docker rm -f`, for cleanup: never throws, a container already gone is fine. */
export async function removeContainer(container: StartedTestContainer | undefined): Promise<void> {
  if (container === undefined) return;
  await docker(['rm', '--force', '--volumes', container.getId()]).catch(() => undefined);
}

/** `docker stop --time GRACE` (SIGTERM, then SIGKILL after the grace), then the exit code. */
export async function stopGracefully(
  container: StartedTestContainer,
  graceSeconds: number,
): Promise<{ exitCode: number; stopMs: number }> {
  const started = Date.now();
  await docker(['stop', '--time', String(graceSeconds), container.getId()], (graceSeconds + 30) * 1000);
  const stopMs = Date.now() - started;
  const { exitCode } = await containerState(container.getId());
  return { exitCode, stopMs };
}

/** Logs of a container (stdout and stderr), e.g. to explain a failure. */
export async function containerLogs(id: string): Promise<string> {
  const { stdout, stderr } = await run('docker', ['logs', id], { maxBuffer: 16 * 1024 * 1024 }).catch(
    (err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
  return `${stdout}${stderr}`;
}
