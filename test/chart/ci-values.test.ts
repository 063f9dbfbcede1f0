// Every chart/ci/*-values.yaml (the combinations chart-testing installs) renders, lints and produces
// only schema-valid objects, each with the feature it is named for.
import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { chartDir, configOptions, find, get, helm, render, requireHelm, type K8sObject } from './helm.js';
import { asDaemonSet, validateObject } from './models.js';

const ciDir = path.join(chartDir, 'ci');
const ciFiles = readdirSync(ciDir)
  .filter((f) => f.endsWith('-values.yaml'))
  .sort();

// What each combination must show beyond "renders and validates".
const expectations: Record<string, (objects: K8sObject[]) => void> = {
  'default-values.yaml': (objects) => {
    // releaseOnReady is on by default: its ClusterRole reads pods, nothing more.
    expect(configOptions(objects, 'server.yaml')).to.include({ releaseOnReady: true });
    expect(find(objects, 'ClusterRole')).to.not.equal(undefined);
  },
  'k8s-health-values.yaml': (objects) => {
    const containers = asDaemonSet(get(objects, 'DaemonSet')).spec?.template.spec?.containers ?? [];
    expect(containers.map((c) => c.name)).to.deep.equal(['server', 'health']);
    expect(find(objects, 'ClusterRole')).to.not.equal(undefined);
  },
  'release-on-ready-events-values.yaml': (objects) => {
    expect(configOptions(objects, 'server.yaml')).to.include({ releaseOnReady: true, events: true });
  },
  'monitoring-values.yaml': (objects) => {
    for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'ConfigMap']) {
      expect(find(objects, kind), kind).to.not.equal(undefined);
    }
  },
  'state-file-token-values.yaml': (objects) => {
    expect(configOptions(objects, 'server.yaml').stateFile).to.be.a('string');
    expect(configOptions(objects, 'server.yaml').tokenFile).to.be.a('string');
  },
  'injector-values.yaml': (objects) => {
    for (const kind of ['Deployment', 'Service', 'PodDisruptionBudget', 'MutatingWebhookConfiguration', 'Role', 'ConfigMap']) {
      expect(find(objects, kind), kind).to.not.equal(undefined);
    }
  },
  'unleased-values.yaml': (objects) => {
    expect(configOptions(objects, 'server.yaml')).to.deep.include({
      releaseOnReady: true,
      countUnleased: true,
      unleasedMax: '90s',
      unleasedExcludeNamespace: ['kube-system', 'monitoring'],
      unleasedExcludeLabel: ['startup-lock.io/ignore:true'],
      unleasedDaemonsets: false,
    });
    const containers = asDaemonSet(get(objects, 'DaemonSet')).spec?.template.spec?.containers ?? [];
    expect(containers.map((c) => c.name)).to.deep.equal(['server', 'health']);
  },
  'no-hostnetwork-values.yaml': (objects) => {
    expect(asDaemonSet(get(objects, 'DaemonSet')).spec?.template.spec?.hostNetwork).to.equal(false);
  },
};

describe('chart: ci values (chart-testing combinations)', function () {
  const rendered = new Map<string, Promise<K8sObject[]>>();

  before(function () {
    requireHelm(this);
    // Render every combination at once; each test awaits its own.
    for (const file of ciFiles) {
      const result = render({ valuesFiles: [path.join(ciDir, file)] });
      result.catch(() => undefined); // reported by the test that awaits it
      rendered.set(file, result);
    }
  });

  it('has a values file for each main combination', function () {
    expect(ciFiles).to.include.members(Object.keys(expectations));
  });

  for (const file of ciFiles) {
    describe(file, function () {
      it('renders only objects that validate against the Kubernetes schemas', async function () {
        const objects = await rendered.get(file);
        expect(objects).to.have.length.greaterThan(0);
        for (const obj of objects ?? []) validateObject(obj);
      });

      it('shows the feature it is named for', async function () {
        const check = expectations[file];
        if (!check) throw new Error(`no expectation for ${file}: add one to test/chart/ci-values.test.ts`);
        check((await rendered.get(file)) ?? []);
      });

      it('passes helm lint --strict', async function () {
        const result = await helm(['lint', '--strict', chartDir, '--values', path.join(ciDir, file)]);
        expect(result.code, result.stdout + result.stderr).to.equal(0);
      });
    });
  }
});
