// One duration grammar everywhere (src/config/formats.ts): the same inputs give the same answer through
// the flag, the environment variable, the --config file, the chart (schema, then the rendered --config
// file through the real loader), the library chart (rendered args through the real loader), the
// injector's pod annotations and the HTTP API.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { acquireCommand, acquireSchema } from '../../src/config/acquire.js';
import { loadConfig } from '../../src/config/load.js';
import { serverCommand } from '../../src/config/server.js';
import { ConfigError } from '../../src/errors.js';
import { decide } from '../../src/inject/mutate.js';
import { BadRequest, waitSeconds } from '../../src/server/requests.js';
import { argsWithConfig, get, render, renderRaw, withAppChart } from './helm.js';
import { asDaemonSet, asDeployment, flagValue } from './models.js';

/** Milliseconds, or 'refused' (exit 2, schema or render failure, warning, HTTP 400). */
type Outcome = number | 'refused';

const cases: { input: string; expected: Outcome }[] = [
  { input: '1.5s', expected: 'refused' }, // no decimals: 1500ms
  { input: '500ms', expected: 500 },
  { input: '2m', expected: 120_000 },
  { input: '90', expected: 90_000 }, // plain seconds
  { input: '2 m', expected: 'refused' }, // malformed
  { input: 'soon', expected: 'refused' },
];

function outcome<T>(load: () => T, pick: (value: T) => number): Outcome {
  try {
    return pick(load());
  } catch (err) {
    if (err instanceof ConfigError || err instanceof BadRequest) return 'refused';
    throw err;
  }
}

const podEnv = { NODE_NAME: 'node-1', POD_NAME: 'p', POD_NAMESPACE: 'ns', HOST_IP: '10.0.0.1', POD_UID: 'u' };

/** Each surface: how it reads `input` as the server's --queue-grace (bound 0..10m) or acquire's --timeout. */
const surfaces: Record<string, (input: string) => Outcome | Promise<Outcome>> = {
  flag: (input) => outcome(() => loadConfig(serverCommand, ['--queue-grace', input], {}), (l) => l.config.queueGrace),
  'environment variable': (input) =>
    outcome(() => loadConfig(serverCommand, [], { STARTUP_LOCK_QUEUE_GRACE: input }), (l) => l.config.queueGrace),
  'config file': (input) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'startup-lock-duration-'));
    try {
      const file = path.join(dir, 'server.yaml');
      writeFileSync(file, `queueGrace: ${JSON.stringify(input)}\n`);
      return outcome(() => loadConfig(serverCommand, ['--config', file], {}), (l) => l.config.queueGrace);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  'chart (schema, then the rendered --config file)': async (input) => {
    const result = await renderRaw({ values: { queueGrace: input } });
    if (result.code !== 0) {
      expect(result.stderr).to.include('/queueGrace');
      return 'refused';
    }
    const objects = await render({ values: { queueGrace: input } });
    const server = asDaemonSet(get(objects, 'DaemonSet')).spec?.template.spec?.containers[0];
    const rendered = argsWithConfig(objects, server?.args?.slice(1) ?? []);
    try {
      return outcome(() => loadConfig(serverCommand, rendered.args, podEnv), (l) => l.config.queueGrace);
    } finally {
      rendered.cleanup();
    }
  },
  'library chart (rendered initContainer args)': async (input) => {
    const result = await renderRaw({ chart: appChart, values: { startupLock: { timeout: input } } });
    if (result.code !== 0) {
      expect(result.stderr).to.include('startupLock.timeout');
      return 'refused';
    }
    const objects = await render({ chart: appChart, values: { startupLock: { timeout: input } } });
    const args = asDeployment(get(objects, 'Deployment')).spec?.template.spec?.initContainers?.[0]?.args ?? [];
    expect(flagValue(args, '--timeout')).to.equal(input);
    return outcome(() => loadConfig(acquireCommand, args.slice(1), podEnv), (l) => l.config.timeout);
  },
  'injector pod annotation': (input) => {
    const container = { name: 'startup-lock', image: 'i', args: ['acquire'] };
    const pod = { metadata: { annotations: { 'startup-lock.io/timeout': input } }, spec: {} };
    const d = decide(pod, 'apps', { container, meshExcludePort: false, ownNamespace: 'lock' });
    if (d.warnings.length > 0) return 'refused';
    const added = d.patch.find((op) => op.path === '/spec/initContainers') as { value: { args: string[] }[] };
    const value = flagValue(added.value[0]?.args, '--timeout');
    return outcome(() => loadConfig(acquireCommand, ['--timeout', value ?? ''], {}), (l) => l.config.timeout);
  },
  'HTTP API (wait=)': (input) => outcome(() => waitSeconds(input, acquireSchema.wait.max!), (ms) => ms),
};

let appChart: string;

describe('one duration grammar on every surface', function () {
  withAppChart((dir) => (appChart = dir));

  for (const { input, expected } of cases) {
    it(`reads ${JSON.stringify(input)} as ${expected === 'refused' ? 'refused' : `${expected} ms`} everywhere`, async function () {
      const got: Record<string, Outcome> = {};
      for (const [surface, read] of Object.entries(surfaces)) got[surface] = await read(input);
      expect(got).to.deep.equal(Object.fromEntries(Object.keys(surfaces).map((s) => [s, expected])));
    });
  }
});
