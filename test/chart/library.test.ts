// The library chart startup-lock-client, through the example app chart that depends on it the way an
// app chart would (file:// repository, `helm dependency build`).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { IContainer } from 'kubernetes-models/v1';
import {
  chartDir,
  exampleChartDir,
  get,
  helm,
  libraryChartDir,
  render,
  renderRaw,
  withAppChart,
  type RenderOptions,
} from './helm.js';
import { acquireCommand } from '../../src/config/acquire.js';
import { loadConfig } from '../../src/config/load.js';
import { asDeployment, flagValue, validateObject } from './models.js';

interface ChartMeta {
  version: string;
  appVersion: string;
  type?: string;
  dependencies?: { name: string; repository: string }[];
}
const readChart = (dir: string) => parse(readFileSync(path.join(dir, 'Chart.yaml'), 'utf8')) as ChartMeta;

describe('chart: library startup-lock-client and the example app chart', function () {
  let appChart: string;
  withAppChart((dir) => (appChart = dir));

  async function initContainers(opts: Omit<RenderOptions, 'chart'> = {}): Promise<IContainer[]> {
    const objects = await render({ ...opts, chart: appChart });
    for (const obj of objects) validateObject(obj);
    return asDeployment(get(objects, 'Deployment')).spec?.template.spec?.initContainers ?? [];
  }

  it('is a library chart that defaults to the same image version as the main chart', function () {
    const library = readChart(libraryChartDir);
    expect(library.type).to.equal('library');
    expect(library.appVersion).to.equal(readChart(chartDir).appVersion);
    // A library template sees the app chart's .Chart, so the default tag is written in the template.
    const tpl = readFileSync(path.join(libraryChartDir, 'templates/_initcontainer.tpl'), 'utf8');
    const written = /define "startup-lock-client\.appVersion" -}}\s*([^\s{]+)/.exec(tpl)?.[1];
    expect(written).to.equal(library.appVersion);
  });

  it('the example depends on it by a file:// repository', function () {
    const deps = readChart(exampleChartDir).dependencies ?? [];
    expect(deps).to.deep.equal([
      {
        name: 'startup-lock-client',
        version: readChart(libraryChartDir).version,
        repository: 'file://../../chart/charts/startup-lock-client',
      },
    ]);
  });

  it('passes helm lint --strict (library and example)', async function () {
    const [library, example] = await Promise.all([
      helm(['lint', '--strict', libraryChartDir]),
      helm(['lint', '--strict', appChart]),
    ]);
    expect(library.code, library.stdout + library.stderr).to.equal(0);
    expect(example.code, example.stdout + example.stderr).to.equal(0);
  });

  it('renders the initContainer with defaults when startupLock is not set at all', async function () {
    const [init, ...rest] = await initContainers({ set: ['startupLock=null'] });
    expect(rest).to.have.length(0);
    expect(init?.name).to.equal('startup-lock');
    expect(init?.image).to.equal(`ghcr.io/startup-lock/startup-lock:${readChart(libraryChartDir).appVersion}`);
    expect(init?.args?.[0]).to.equal('acquire');
    expect(flagValue(init?.args, '--port')).to.equal('8888');
    expect(flagValue(init?.args, '--fail-open-after')).to.equal('5m');
    expect(init?.args).to.not.include('--duration');
    expect(init?.args).to.not.include('--timeout');
    expect(init?.args).to.not.include('--host');
    const fieldPaths = Object.fromEntries((init?.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    expect(fieldPaths).to.deep.equal({
      HOST_IP: 'status.hostIP',
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
      POD_UID: 'metadata.uid',
    });
    expect(init?.securityContext).to.deep.include({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(init?.resources?.limits?.memory).to.be.a('string');
  });

  it('renders the same with the example values (enabled, nothing else)', async function () {
    const [withValues, without] = await Promise.all([initContainers(), initContainers({ set: ['startupLock=null'] })]);
    expect(withValues).to.deep.equal(without);
  });

  it('applies every startupLock override', async function () {
    const [init] = await initContainers({
      values: {
        startupLock: {
          name: 'wait-for-node',
          port: 9000,
          duration: '2m',
          timeout: '30m',
          failOpenAfter: 0,
          tokenSecret: 'lock-token',
          image: {
            repository: 'registry.example/lock',
            tag: '2.0.0',
            digest: `sha256:${'c'.repeat(64)}`,
            pullPolicy: 'Always',
          },
          resources: { requests: { cpu: '5m', memory: '32Mi' } },
        },
      },
    });
    expect(init?.name).to.equal('wait-for-node');
    expect(init?.image).to.equal(`registry.example/lock:2.0.0@sha256:${'c'.repeat(64)}`);
    expect(init?.imagePullPolicy).to.equal('Always');
    expect(flagValue(init?.args, '--port')).to.equal('9000');
    expect(flagValue(init?.args, '--duration')).to.equal('2m');
    expect(flagValue(init?.args, '--timeout')).to.equal('30m');
    expect(flagValue(init?.args, '--fail-open-after')).to.equal('0');
    expect(init?.resources).to.deep.equal({ requests: { cpu: '5m', memory: '32Mi' } });
    const mount = init?.volumeMounts?.[0];
    expect(flagValue(init?.args, '--token-file')).to.equal(`${mount?.mountPath}/token`);
    // The client itself accepts them as given.
    const { config } = loadConfig(acquireCommand, init?.args?.slice(1) ?? [], { HOST_IP: '10.0.0.1' });
    expect(config).to.include({ port: 9000, duration: 120_000, timeout: 1_800_000, failOpenAfter: 0 });
  });

  it('adds the token volume to the pod only with startupLock.tokenSecret', async function () {
    const volumesOf = async (opts: Omit<RenderOptions, 'chart'>) =>
      asDeployment(get(await render({ ...opts, chart: appChart }), 'Deployment')).spec?.template.spec?.volumes ?? [];
    const [plain, withToken] = await Promise.all([
      volumesOf({}),
      volumesOf({ set: ['startupLock.tokenSecret=lock-token'] }),
    ]);
    expect(plain.map((v) => v.name)).to.deep.equal(['cache']);
    expect(withToken.map((v) => v.name)).to.deep.equal(['cache', 'startup-lock-token']);
    expect(withToken[1]?.secret?.secretName).to.equal('lock-token');
  });

  it('renders nothing when startupLock.enabled is false', async function () {
    const objects = await render({ chart: appChart, set: ['startupLock.enabled=false'] });
    for (const obj of objects) validateObject(obj);
    expect(asDeployment(get(objects, 'Deployment')).spec?.template.spec?.initContainers).to.equal(undefined);
  });

  it('refuses a port that is not a port number', async function () {
    const result = await renderRaw({ chart: appChart, values: { startupLock: { port: 70000 } } });
    expect(result.code).to.not.equal(0);
    expect(result.stderr).to.include('startupLock.port');
  });

  it('refuses a duration it cannot pass on', async function () {
    const result = await renderRaw({ chart: appChart, values: { startupLock: { duration: 'two minutes' } } });
    expect(result.code).to.not.equal(0);
    expect(result.stderr).to.include('startupLock.duration');
  });

  it('refuses a hold that is not whole seconds (the server counts in seconds)', async function () {
    const result = await renderRaw({ chart: appChart, values: { startupLock: { duration: '1500ms' } } });
    expect(result.code).to.not.equal(0);
    expect(result.stderr).to.include('whole seconds');
  });
});
