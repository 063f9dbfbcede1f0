// Builds the server's dependency gate from its config: one probe per --check target (tcp or http),
// the CA bundle from --check-ca-file, and the scheduler that runs them. The HTTP prober (got: ~30 MB of
// RSS on Node 24, docs/benchmarks.md) is loaded only when an http(s) target is configured.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import type { HttpProber } from './http.js';
import type { Probe } from './probe.js';
import { CheckScheduler } from './scheduler.js';
import { probeTcp } from './tcp.js';
import type { CheckObserver } from './types.js';

export interface CheckConfig {
  check: string[];
  failHc: number;
  passHc: number;
  checkTimeout: number;
  checkCaFile: string;
}

export async function createCheckScheduler(
  config: CheckConfig,
  clock: Clock,
  observer?: CheckObserver,
): Promise<CheckScheduler> {
  const ca = config.checkCaFile ? readCaFile(config.checkCaFile) : undefined;
  let http: HttpProber | undefined;
  if (config.check.some((target) => !target.startsWith('tcp:'))) {
    const { HttpProber } = await import('./http.js');
    http = new HttpProber({ timeoutMs: config.checkTimeout, ...(ca ? { ca } : {}) });
  }
  const probeFor = (target: string): Probe => (target.startsWith('tcp:') || !http ? probeTcp : http.probe);
  return new CheckScheduler({
    targets: config.check,
    failHcMs: config.failHc,
    passHcMs: config.passHc,
    timeoutMs: config.checkTimeout,
    clock,
    probeFor,
    resources: http ? [http] : [],
    ...(observer ? { observer } : {}),
  });
}

/** Reads and validates a PEM CA bundle; a bad file is a usage error (exit 2), not a silent no-op. */
export function readCaFile(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`--check-ca-file: cannot read ${path}: ${(err as Error).message}`]);
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new ConfigError([
      `--check-ca-file: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    ]);
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new ConfigError([
        `--check-ca-file: ${path} holds an unreadable certificate: ${(err as Error).message}`,
      ]);
    }
  }
  return pem;
}
