// The chart and the CLI agree: the args and --config files the chart renders for the server, the
// health sidecar and the injector, and the args of the initContainer it hands to app charts, pass the real option
// loaders (src/config) with no problem. This is the end-to-end proof of the generated option mapping.
import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { acquireCommand } from '../../src/config/acquire.js';
import { healthCommand } from '../../src/config/health.js';
import { loadConfig, type CommandSpec } from '../../src/config/load.js';
import type { ConfigOf, Schema } from '../../src/config/options.js';
import { injectCommand } from '../../src/config/inject.js';
import { serverCommand } from '../../src/config/server.js';
import { argsWithConfig, chartDir, get, render, renderNotes, requireHelm, type K8sObject } from './helm.js';
import { asDaemonSet, asDeployment } from './models.js';

// What the downward API gives the containers in a pod; nothing from the test's own environment.
const podEnv = { NODE_NAME: 'node-1', POD_NAME: 'p', POD_NAMESPACE: 'ns', HOST_IP: '10.0.0.1', POD_UID: 'u' };

/** Load a DaemonSet container's args (with the rendered --config file) through the real loader. */
function loadRendered<S extends Schema>(command: CommandSpec<S>, objects: K8sObject[], args: string[]): ConfigOf<S> {
  const rendered = argsWithConfig(objects, args);
  try {
    return loadConfig(command, rendered.args, podEnv).config;
  } finally {
    rendered.cleanup();
  }
}

const ciFiles = readdirSync(path.join(chartDir, 'ci')).filter((f) => f.endsWith('-values.yaml'));

describe('chart: args accepted by the startup-lock CLI', function () {
  before(function () {
    requireHelm(this);
  });

  for (const file of ciFiles) {
    it(`server args of ${file} load without a problem`, async function () {
      const objects = await render({ valuesFiles: [path.join(chartDir, 'ci', file)] });
      const server = asDaemonSet(get(objects, 'DaemonSet')).spec?.template.spec?.containers.find((c) => c.name === 'server');
      const [command, ...args] = server?.args ?? [];
      expect(command).to.equal('server');
      const config = loadRendered(serverCommand, objects, args);
      expect(config.port).to.be.a('number');
    });
  }

  it('server args with every option set load to the values given', async function () {
    const objects = await render({
      values: {
        locks: 4,
        timeout: '30s',
        maxDuration: '15m',
        checks: ['tcp://127.0.0.1:5432'],
        releaseOnReady: true,
        readyProbeInterval: '250ms',
        countUnleased: false,
        unleasedMax: '45s',
        unleasedExcludeNamespaces: ['kube-system', 'batch'],
        unleasedExcludeLabels: ['tier:batch'],
        unleasedDaemonSets: false,
        events: true,
        legacyApi: false,
        k8sHealth: { enabled: true, port: 9998 },
        tokenSecret: 'tok',
        stateFile: { enabled: true },
      },
    });
    const server = asDaemonSet(get(objects, 'DaemonSet')).spec?.template.spec?.containers[0];
    const config = loadRendered(serverCommand, objects, server?.args?.slice(1) ?? []);
    expect(config).to.include({
      locks: 4,
      timeout: 30_000,
      maxDuration: 900_000,
      releaseOnReady: true,
      readyProbeInterval: 250,
      countUnleased: false,
      unleasedMax: 45_000,
      unleasedDaemonsets: false,
      events: true,
      legacyApi: false,
      tokenFile: '/etc/startup-lock/token/token',
      stateFile: '/var/lib/startup-lock/state.json',
      nodeName: 'node-1',
    });
    expect(config.check).to.deep.equal(['tcp://127.0.0.1:5432', 'http://127.0.0.1:9998/']);
    expect(config.unleasedExcludeNamespace).to.deep.equal(['kube-system', 'batch']);
    expect(config.unleasedExcludeLabel).to.deep.equal(['tier:batch']);
    // The server's own pod, never counted, comes from the downward API the chart sets.
    const env = server?.env?.map((e) => e.name) ?? [];
    expect(env).to.include.members(['POD_NAME', 'POD_NAMESPACE']);
  });

  it('health sidecar args with every option set load to the values given', async function () {
    const objects = await render({
      values: {
        k8sHealth: {
          enabled: true,
          port: 9997,
          namespace: 'kube-system',
          hostNetworkOnly: true,
          include: ['tier:node'],
          failHc: '5s',
          passHc: '2m',
        },
      },
    });
    const daemonSet = asDaemonSet(get(objects, 'DaemonSet'));
    const health = daemonSet.spec?.template.spec?.containers.find((c) => c.name === 'health');
    const [command, ...args] = health?.args ?? [];
    expect(command).to.equal('health');
    const config = loadRendered(healthCommand, objects, args);
    expect(config).to.include({
      port: 9997,
      namespace: 'kube-system',
      hostNet: true,
      failHc: 5000,
      passHc: 120_000,
      nodeName: 'node-1',
      selfName: daemonSet.metadata?.name,
    });
    expect(config.in).to.deep.equal(['tier:node']);
  });

  it('injector args with every option set load to the values given', async function () {
    const objects = await render({
      values: {
        listenAddress: '::',
        injector: {
          enabled: true,
          port: 9443,
          healthPort: 9081,
          logLevel: 'debug',
          serviceMesh: { excludeLockPort: false },
          certManager: { enabled: true },
        },
      },
    });
    const deployment = asDeployment(get(objects, 'Deployment'));
    const [command, ...args] = deployment.spec?.template.spec?.containers[0]?.args ?? [];
    expect(command).to.equal('inject');
    const config = loadRendered(injectCommand, objects, args);
    expect(config).to.include({
      host: '::',
      port: 9443,
      healthPort: 9081,
      logLevel: 'debug',
      meshExcludePort: false,
      namespace: 'ns',
      webhookName: deployment.metadata?.name,
      serviceName: deployment.metadata?.name,
      containerFile: '/etc/startup-lock/injector/container.yaml',
      tlsCertFile: '/etc/startup-lock/tls/tls.crt',
      tlsKeyFile: '/etc/startup-lock/tls/tls.key',
    });
  });

  it('the NOTES initContainer args load as acquire options', async function () {
    const notes = await renderNotes({ values: { tokenSecret: 'tok' } });
    const argsBlock = /args:\n((?:\s+- .*\n)+)/.exec(notes)?.[1] ?? '';
    const args = argsBlock
      .split('\n')
      .map((l) => l.trim().replace(/^- /, '').replace(/^"(.*)"$/, '$1'))
      .filter((l) => l !== '');
    expect(args[0]).to.equal('acquire');
    const { config } = loadConfig(acquireCommand, args.slice(1), podEnv);
    expect(config).to.include({ port: 8888, failOpenAfter: 300_000, tokenFile: '/var/run/startup-lock/token/token' });
  });
});
