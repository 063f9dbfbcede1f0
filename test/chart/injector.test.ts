// The injector's objects (chart/templates/injector-*.yaml) for chart/ci/injector-values.yaml: the
// webhook configuration's safety settings and selection, the Deployment (whose args the real option
// loader accepts), the PodDisruptionBudget and least-privilege RBAC; and the cert-manager variant.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import type { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { ClusterRole, Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { injectCommand } from '../../src/config/inject.js';
import { loadContainer } from '../../src/inject/container.js';
import { loadConfig } from '../../src/config/load.js';
import { containerFileFrom, INJECTOR_VALUES } from '../support/inject-helpers.js';
import {
  argsWithConfig,
  chartDir,
  configOptions,
  find,
  get,
  NAMESPACE,
  render,
  renderNotes,
  renderRaw,
  requireHelm,
  type K8sObject,
} from './helm.js';
import { asDeployment, flagValue, validateObject } from './models.js';

const NAME = 'lock-startup-lock-injector';

describe('chart: injector', function () {
  let objects: K8sObject[];

  before(async function () {
    requireHelm(this);
    objects = await render({ valuesFiles: [INJECTOR_VALUES] });
  });

  it('renders nothing of the injector by default', async function () {
    const defaults = await render();
    expect(defaults.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'injector')).to.deep.equal([]);
    expect(find(defaults, 'MutatingWebhookConfiguration')).to.equal(undefined);
  });

  it('every object validates against the Kubernetes schemas', function () {
    for (const obj of objects) validateObject(obj);
  });

  it('the webhook configuration fails open, CREATE of pods only, reinvoked, never in system or own namespaces', function () {
    const config = get(objects, 'MutatingWebhookConfiguration', NAME) as unknown as MutatingWebhookConfiguration;
    const webhooks = config.webhooks ?? [];
    expect(webhooks.map((w) => w.name)).to.deep.equal(['namespace.inject.startup-lock.io', 'pod.inject.startup-lock.io']);
    for (const w of webhooks) {
      expect(w).to.deep.include({
        failurePolicy: 'Ignore',
        timeoutSeconds: 2,
        sideEffects: 'None',
        reinvocationPolicy: 'IfNeeded',
        admissionReviewVersions: ['v1'],
      });
      expect(w.rules).to.deep.equal([
        { apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' },
      ]);
      expect(w.clientConfig.service).to.deep.equal({ name: NAME, namespace: NAMESPACE, path: '/mutate', port: 443 });
      expect(w.namespaceSelector?.matchExpressions).to.deep.include({
        key: 'kubernetes.io/metadata.name',
        operator: 'NotIn',
        values: ['kube-system', 'kube-node-lease', NAMESPACE],
      });
      expect((w.matchConditions ?? []).map((c) => c.name)).to.deep.equal(['not-daemonset-pod', 'not-mirror-pod']);
    }
    const [byNamespace, byPod] = webhooks;
    expect(byNamespace?.namespaceSelector?.matchExpressions).to.deep.include({
      key: 'startup-lock.io/inject',
      operator: 'In',
      values: ['enabled'],
    });
    expect(byNamespace?.objectSelector?.matchExpressions).to.deep.equal([
      { key: 'startup-lock.io/inject', operator: 'NotIn', values: ['false', 'true'] },
    ]);
    expect(byPod?.objectSelector?.matchLabels).to.deep.equal({ 'startup-lock.io/inject': 'true' });
    expect(config.metadata?.annotations?.['cert-manager.io/inject-ca-from']).to.equal(undefined);
  });

  it('a Deployment of 2 replicas spread over nodes, whose args and --config file the inject option loader accepts', function () {
    const deployment = asDeployment(get(objects, 'Deployment', NAME));
    expect(deployment.spec?.replicas).to.equal(2);
    const pod = deployment.spec?.template.spec;
    const term = pod?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm;
    expect(term?.topologyKey).to.equal('kubernetes.io/hostname');
    expect(term?.labelSelector?.matchLabels).to.deep.equal(deployment.spec?.selector.matchLabels);
    // Its pods are never selected by the DaemonSet or its Service.
    const daemonSet = get(objects, 'DaemonSet') as unknown as { spec: { selector: { matchLabels: Record<string, string> } } };
    expect(deployment.spec?.selector.matchLabels).to.not.deep.equal(daemonSet.spec.selector.matchLabels);
    expect(pod?.serviceAccountName).to.equal(NAME);
    const [command, ...args] = pod?.containers[0]?.args ?? [];
    expect(command).to.equal('inject');
    expect(args).to.deep.equal(['--config', '/etc/startup-lock/injector/inject.yaml']);
    const rendered = argsWithConfig(objects, args);
    let config;
    try {
      config = loadConfig(injectCommand, rendered.args, { POD_NAMESPACE: NAMESPACE }).config;
    } finally {
      rendered.cleanup();
    }
    expect(config).to.include({
      host: '0.0.0.0',
      containerFile: '/etc/startup-lock/injector/container.yaml',
      logLevel: 'info',
      webhookName: NAME,
      secretName: `${NAME}-tls`,
      serviceName: NAME,
      namespace: NAMESPACE,
      port: 8443,
      healthPort: 8081,
      meshExcludePort: true,
    });
    expect(pod?.containers[0]?.readinessProbe?.httpGet?.path).to.equal('/readyz');
  });

  it('the ConfigMap holds the container the webhook loads (--container-file)', function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'startup-lock-injector-chart-'));
    try {
      const container = loadContainer(containerFileFrom(objects, dir));
      expect(container.name).to.equal('startup-lock');
      expect(flagValue(container.args, '--duration')).to.equal('2m');
      expect(flagValue(container.args, '--timeout')).to.equal('30m');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a PodDisruptionBudget keeps one replica through a drain', function () {
    const pdb = get(objects, 'PodDisruptionBudget', NAME) as unknown as PodDisruptionBudget;
    expect(pdb.spec?.maxUnavailable).to.equal(1);
    expect(pdb.spec?.selector?.matchLabels).to.deep.equal(asDeployment(get(objects, 'Deployment', NAME)).spec?.selector.matchLabels);
  });

  it('RBAC: its Secret and its own webhook configuration by name; create on secrets in its namespace only', function () {
    const role = get(objects, 'Role', NAME) as unknown as Role;
    expect(role.metadata?.namespace).to.equal(NAMESPACE);
    expect(role.rules).to.deep.equal([
      { apiGroups: [''], resources: ['secrets'], resourceNames: [`${NAME}-tls`], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    const clusterRole = get(objects, 'ClusterRole', NAME) as unknown as ClusterRole;
    expect(clusterRole.rules).to.deep.equal([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [NAME],
        verbs: ['get', 'patch'],
      },
    ]);
    for (const kind of ['RoleBinding', 'ClusterRoleBinding']) {
      const binding = get(objects, kind, NAME) as unknown as { subjects: unknown[] };
      expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: NAME, namespace: NAMESPACE }]);
    }
  });

  it('with certManager: a Certificate, the inject-ca-from annotation, mounted files and no RBAC', async function () {
    const cm = await render({ values: { injector: { enabled: true, certManager: { enabled: true } } } });
    const config = get(cm, 'MutatingWebhookConfiguration', NAME);
    expect(config.metadata.annotations?.['cert-manager.io/inject-ca-from']).to.equal(`${NAMESPACE}/${NAME}`);
    const certificate = get(cm, 'Certificate', NAME) as unknown as { spec: { secretName: string; dnsNames: string[] } };
    expect(certificate.spec.secretName).to.equal(`${NAME}-tls`);
    expect(certificate.spec.dnsNames).to.include(`${NAME}.${NAMESPACE}.svc`);
    expect(find(cm, 'Issuer', NAME)).to.not.equal(undefined);
    expect(find(cm, 'Role', NAME)).to.equal(undefined);
    const pod = asDeployment(get(cm, 'Deployment', NAME)).spec?.template.spec;
    expect(pod?.automountServiceAccountToken).to.equal(false);
    expect(configOptions(cm, 'inject.yaml')).to.include({
      tlsCertFile: '/etc/startup-lock/tls/tls.crt',
      tlsKeyFile: '/etc/startup-lock/tls/tls.key',
    });
    expect(configOptions(cm, 'inject.yaml')).to.not.have.property('secretName');
    for (const obj of cm) if (obj.apiVersion !== 'cert-manager.io/v1') validateObject(obj);
  });

  it('is scraped by its own ServiceMonitor when monitoring is on', async function () {
    const monitored = await render({ values: { injector: { enabled: true }, metrics: { serviceMonitor: { enabled: true } } } });
    const monitor = get(monitored, 'ServiceMonitor', NAME) as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    validateObject(monitor as unknown as K8sObject);
    expect(monitor.spec.endpoints.map((e) => e.port)).to.deep.equal(['metrics']);
    const service = get(monitored, 'Service', NAME) as unknown as { spec: { selector: Record<string, string> } };
    expect(monitor.spec.selector.matchLabels).to.deep.equal(service.spec.selector);
  });

  it('refuses tokenSecret with the injector, saying why', async function () {
    const result = await renderRaw({ values: { tokenSecret: 'tok', injector: { enabled: true } } });
    expect(result.code).to.not.equal(0);
    expect(result.stderr).to.match(/injector\.enabled: not supported together with tokenSecret/);
  });

  it('NOTES tell how to label a namespace', async function () {
    const notes = await renderNotes({ valuesFiles: [path.join(chartDir, 'ci/injector-values.yaml')] });
    expect(notes).to.include('kubectl label namespace <namespace> startup-lock.io/inject=enabled');
    expect(notes).to.include('startup-lock.io/inject: "false"');
  });
});
