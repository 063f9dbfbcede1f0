// Rendering assertions per template, against the real `helm template` (node-exporter keeps these as
// helm-unittest suites; here they are mocha). Every rendered object is also schema-validated.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { Container, IContainer } from 'kubernetes-models/v1';
import {
  chartDir,
  configOptions,
  find,
  get,
  NAMESPACE,
  RELEASE,
  render,
  renderRaw,
  requireHelm,
  type K8sObject,
} from './helm.js';
import { asClusterRole, asDaemonSet, asPod, validateObject } from './models.js';

const FULLNAME = `${RELEASE}-startup-lock`;
const chartMeta = parse(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };
const READ_ONLY = ['get', 'list', 'watch'];

function podSpec(objects: readonly K8sObject[]) {
  const spec = asDaemonSet(get(objects, 'DaemonSet', FULLNAME)).spec?.template.spec;
  if (!spec) throw new Error('DaemonSet has no pod spec');
  return spec;
}

function container(objects: readonly K8sObject[], name: string): IContainer {
  const found = podSpec(objects).containers.find((c) => c.name === name);
  if (!found) throw new Error(`no container ${name}`);
  return found;
}

function envFieldPath(c: IContainer | Container, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
}

function rules(objects: readonly K8sObject[]) {
  return asClusterRole(get(objects, 'ClusterRole', FULLNAME)).rules ?? [];
}

/** resource → verbs, across every rule of the ClusterRole. */
function permissions(objects: readonly K8sObject[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const rule of rules(objects)) {
    for (const resource of rule.resources ?? []) {
      out[resource] = [...new Set([...(out[resource] ?? []), ...rule.verbs])].sort();
    }
  }
  return out;
}

describe('chart: rendering', function () {
  before(function () {
    requireHelm(this);
  });

  describe('with default values', function () {
    let objects: K8sObject[];
    before(async function () {
      objects = await render();
    });

    it('renders a ServiceAccount, the pod-reading RBAC, a headless Service, a DaemonSet, its config and the helm test pod, all valid', function () {
      expect(objects.map((o) => o.kind).sort()).to.deep.equal([
        'ClusterRole',
        'ClusterRoleBinding',
        'ConfigMap',
        'DaemonSet',
        'Pod',
        'Service',
        'ServiceAccount',
      ]);
      for (const obj of objects) validateObject(obj);
    });

    it('labels every object with the standard app.kubernetes.io labels', function () {
      for (const obj of objects) {
        expect(obj.metadata.labels, `${obj.kind}/${obj.metadata.name}`).to.include({
          'app.kubernetes.io/name': 'startup-lock',
          'app.kubernetes.io/instance': RELEASE,
          'app.kubernetes.io/managed-by': 'Helm',
          'app.kubernetes.io/version': chartMeta.appVersion,
          'helm.sh/chart': 'startup-lock-0.1.0',
        });
        if (obj.kind !== 'ClusterRole' && obj.kind !== 'ClusterRoleBinding') {
          expect(obj.metadata.namespace, `${obj.kind} namespace`).to.equal(NAMESPACE);
        }
      }
    });

    it('runs the DaemonSet on the host network of every node, rolling one node at a time', function () {
      const ds = asDaemonSet(get(objects, 'DaemonSet', FULLNAME));
      const spec = podSpec(objects);
      expect(spec.hostNetwork).to.equal(true);
      expect(spec.dnsPolicy).to.equal('ClusterFirstWithHostNet');
      expect(spec.tolerations).to.deep.equal([{ operator: 'Exists' }]);
      expect(spec.nodeSelector).to.deep.equal({ 'kubernetes.io/os': 'linux' });
      expect(ds.spec?.updateStrategy).to.deep.equal({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
      expect(ds.spec?.selector.matchLabels).to.deep.equal({
        'app.kubernetes.io/name': 'startup-lock',
        'app.kubernetes.io/instance': RELEASE,
      });
      expect(spec.priorityClassName).to.equal(undefined);
      expect(spec.serviceAccountName).to.equal(FULLNAME);
    });

    it('uses the image tagged with the chart appVersion and opens the port on the node', function () {
      const server = container(objects, 'server');
      expect(server.image).to.equal(`ghcr.io/startup-lock/startup-lock:${chartMeta.appVersion}`);
      expect(server.ports).to.deep.equal([{ name: 'http', containerPort: 8888, hostPort: 8888, protocol: 'TCP' }]);
      expect(podSpec(objects).containers.map((c) => c.name)).to.deep.equal(['server']);
    });

    it('passes the server options in a --config file with the documented defaults', function () {
      const args = container(objects, 'server').args ?? [];
      expect(args).to.deep.equal(['server', '--config', '/etc/startup-lock/config/server.yaml']);
      expect(configOptions(objects, 'server.yaml')).to.deep.equal({
        host: '0.0.0.0',
        port: 8888,
        locks: 1,
        locksPerCore: 0,
        timeout: '10s',
        maxDuration: '10m',
        maxWait: '1m',
        queueGrace: '10s',
        maxQueue: 1000,
        maxConnections: 2048,
        maxLoad: 0,
        check: [],
        failHc: '10s',
        passHc: '1m',
        checkTimeout: '5s',
        legacyApi: true,
        releaseOnReady: true,
        readyProbeInterval: '100ms',
        countUnleased: true,
        unleasedMax: '2m',
        unleasedExcludeNamespace: [],
        unleasedExcludeLabel: [],
        unleasedDaemonsets: true,
        events: false,
        shutdownTimeout: '10s',
        logLevel: 'info',
      });
      const mount = container(objects, 'server').volumeMounts?.find((m) => m.name === 'config');
      expect(mount).to.include({ mountPath: '/etc/startup-lock/config', readOnly: true });
      expect(podSpec(objects).volumes?.find((v) => v.name === 'config')?.configMap?.name).to.equal(`${FULLNAME}-config`);
    });

    it('rolls the DaemonSet when an option changes (checksum of the config)', async function () {
      const checksum = (objs: readonly K8sObject[]) =>
        asDaemonSet(get(objs, 'DaemonSet', FULLNAME)).spec?.template.metadata?.annotations?.['checksum/config'];
      const changed = await render({ values: { queueGrace: '20s' } });
      expect(checksum(objects)).to.match(/^[0-9a-f]{64}$/);
      expect(checksum(changed)).to.match(/^[0-9a-f]{64}$/);
      expect(checksum(changed)).to.not.equal(checksum(objects));
    });

    it('gives the server its node, pod and host IP through the downward API', function () {
      const server = container(objects, 'server');
      expect(envFieldPath(server, 'NODE_NAME')).to.equal('spec.nodeName');
      expect(envFieldPath(server, 'POD_NAME')).to.equal('metadata.name');
      expect(envFieldPath(server, 'POD_NAMESPACE')).to.equal('metadata.namespace');
      expect(envFieldPath(server, 'HOST_IP')).to.equal('status.hostIP');
    });

    it('runs non-root with a read-only root filesystem, no capabilities and RuntimeDefault seccomp', function () {
      const spec = podSpec(objects);
      expect(spec.securityContext?.runAsNonRoot).to.equal(true);
      expect(spec.securityContext?.seccompProfile?.type).to.equal('RuntimeDefault');
      const sc = container(objects, 'server').securityContext;
      expect(sc?.readOnlyRootFilesystem).to.equal(true);
      expect(sc?.allowPrivilegeEscalation).to.equal(false);
      expect(sc?.runAsNonRoot).to.equal(true);
      expect(sc?.capabilities?.drop).to.deep.equal(['ALL']);
      expect(sc?.capabilities?.add).to.equal(undefined);
      expect(sc?.privileged).to.not.equal(true);
    });

    it('mounts a writable /tmp, since the root filesystem is read-only', function () {
      const mount = container(objects, 'server').volumeMounts?.find((m) => m.mountPath === '/tmp');
      expect(mount).to.not.equal(undefined);
      const volume = podSpec(objects).volumes?.find((v) => v.name === mount?.name);
      expect(volume?.emptyDir).to.be.an('object');
    });

    it('probes /healthz for liveness and /readyz for readiness on the http port', function () {
      const server = container(objects, 'server');
      expect(server.livenessProbe?.httpGet).to.deep.equal({ path: '/healthz', port: 'http' });
      expect(server.readinessProbe?.httpGet).to.deep.equal({ path: '/readyz', port: 'http' });
    });

    it('sleeps briefly in preStop and allows more grace than the preStop plus the drain', function () {
      const server = container(objects, 'server');
      expect(server.lifecycle?.preStop?.sleep?.seconds).to.equal(2);
      // 2 s preStop + 10 s --shutdown-timeout must both fit before the kubelet's SIGKILL.
      expect(podSpec(objects).terminationGracePeriodSeconds).to.be.greaterThan(12);
    });

    it('releases on the holder’s own probes: mounts an API token and may only read pods', function () {
      expect(podSpec(objects).automountServiceAccountToken).to.equal(true);
      expect(permissions(objects)).to.deep.equal({ pods: READ_ONLY });
    });

    it('does not mount an API token and renders no RBAC when no feature needs the API', async function () {
      const off = await render({ set: ['releaseOnReady=false'] });
      expect(podSpec(off).automountServiceAccountToken).to.equal(false);
      expect(get(off, 'ServiceAccount', FULLNAME).automountServiceAccountToken).to.equal(false);
      expect(find(off, 'ClusterRole')).to.equal(undefined);
      expect(find(off, 'ClusterRoleBinding')).to.equal(undefined);
      expect(configOptions(off, 'server.yaml')).to.include({ releaseOnReady: false });
    });

    it('exposes the metrics port on a headless Service selecting the DaemonSet pods', function () {
      const service = get(objects, 'Service', FULLNAME) as K8sObject & {
        spec: { clusterIP: string; selector: Record<string, string>; ports: unknown[] };
      };
      expect(service.spec.clusterIP).to.equal('None');
      expect(service.spec.selector).to.deep.equal({
        'app.kubernetes.io/name': 'startup-lock',
        'app.kubernetes.io/instance': RELEASE,
      });
      expect(service.spec.ports).to.deep.equal([{ name: 'http', port: 8888, targetPort: 'http', protocol: 'TCP' }]);
    });

    it('renders a helm test pod that asks /readyz at the node IP and lock port', function () {
      const pod = asPod(get(objects, 'Pod', `${FULLNAME}-test-readyz`));
      expect(pod.metadata?.annotations?.['helm.sh/hook']).to.equal('test');
      const test = pod.spec?.containers[0];
      expect(test?.command?.join(' ')).to.match(/wget .*\/readyz/);
      expect(envFieldPath(test as IContainer, 'HOST_IP')).to.equal('status.hostIP');
      expect(test?.env?.find((e) => e.name === 'LOCK_PORT')?.value).to.equal('8888');
      expect(test?.securityContext?.readOnlyRootFilesystem).to.equal(true);
      expect(pod.spec?.securityContext?.runAsNonRoot).to.equal(true);
    });
  });

  describe('server options', function () {
    it('sets every option that matters in the --config file', async function () {
      // Values named like their options, passed through as given.
      const given = {
        locks: 3,
        locksPerCore: 0.5,
        timeout: 30,
        maxDuration: '15m',
        maxWait: '20s',
        queueGrace: '5s',
        maxQueue: 50,
        maxConnections: 300,
        maxLoad: 2.5,
        failHc: '3s',
        passHc: '2m',
        checkTimeout: '1500ms',
        legacyApi: false,
        shutdownTimeout: '20s',
        logLevel: 'debug',
      };
      const checks = ['http://127.0.0.1:10248/healthz', 'tcp://10.0.0.1:5432'];
      const objects = await render({
        values: { ...given, checks, listenAddress: '::', extraArgs: ['--check-ca-file', '/etc/ca/ca.crt'] },
      });
      expect(configOptions(objects, 'server.yaml')).to.deep.include({ ...given, check: checks, host: '::' });
      // Flags win over the --config file, so extra arguments can override any option.
      expect((container(objects, 'server').args ?? []).slice(-2)).to.deep.equal(['--check-ca-file', '/etc/ca/ca.crt']);
      // 2 s preStop + 20 s drain.
      expect(podSpec(objects).terminationGracePeriodSeconds).to.be.greaterThan(22);
    });

    it('takes image tag, digest, pull secrets, scheduling and pod metadata from values', async function () {
      const objects = await render({
        set: [
          'image.repository=registry.example/startup-lock',
          'image.tag=9.9.9',
          'image.digest=sha256:' + 'a'.repeat(64),
          'imagePullSecrets[0].name=regcred',
          'priorityClassName=system-node-critical',
          'nodeSelector.pool=apps',
          'tolerations[0].key=dedicated',
          'tolerations[0].operator=Equal',
          'tolerations[0].value=apps',
          'tolerations[0].effect=NoSchedule',
          'podAnnotations.team=platform',
          'podLabels.tier=node',
          'extraEnv[0].name=STARTUP_LOCK_MAX_QUEUE',
          'extraEnv[0].value=ten',
          'updateStrategy.rollingUpdate.maxUnavailable=10%',
          'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=x',
          'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists',
        ],
      });
      for (const obj of objects) validateObject(obj);
      const ds = asDaemonSet(get(objects, 'DaemonSet', FULLNAME));
      const spec = podSpec(objects);
      expect(container(objects, 'server').image).to.equal(`registry.example/startup-lock:9.9.9@sha256:${'a'.repeat(64)}`);
      expect(spec.imagePullSecrets).to.deep.equal([{ name: 'regcred' }]);
      expect(spec.priorityClassName).to.equal('system-node-critical');
      expect(spec.nodeSelector).to.deep.equal({ 'kubernetes.io/os': 'linux', pool: 'apps' });
      expect(spec.tolerations).to.deep.equal([{ key: 'dedicated', operator: 'Equal', value: 'apps', effect: 'NoSchedule' }]);
      expect(spec.affinity?.nodeAffinity).to.be.an('object');
      expect(ds.spec?.template.metadata?.annotations).to.include({ team: 'platform' });
      expect(ds.spec?.template.metadata?.labels).to.include({ tier: 'node' });
      expect(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable).to.equal('10%');
      expect(container(objects, 'server').env?.find((e) => e.name === 'STARTUP_LOCK_MAX_QUEUE')?.value).to.equal('ten');
    });

    it('rejects a default hold longer than maxDuration, as the server would', async function () {
      const result = await renderRaw({ values: { timeout: '20m', maxDuration: '10m' } });
      expect(result.code).to.not.equal(0);
      expect(result.stderr).to.include('maxDuration');
    });

    it('drops the preStop hook when preStop.sleepSeconds is 0', async function () {
      const objects = await render({ set: ['preStop.sleepSeconds=0'] });
      expect(container(objects, 'server').lifecycle).to.equal(undefined);
    });

    it('keeps a given terminationGracePeriodSeconds that covers preStop and drain', async function () {
      const objects = await render({ set: ['terminationGracePeriodSeconds=60', 'shutdownTimeout=30s'] });
      expect(podSpec(objects).terminationGracePeriodSeconds).to.equal(60);
    });

    it('rejects a terminationGracePeriodSeconds shorter than preStop plus drain', async function () {
      const result = await renderRaw({ set: ['terminationGracePeriodSeconds=5', 'shutdownTimeout=10s'] });
      expect(result.code).to.not.equal(0);
      expect(result.stderr).to.include('terminationGracePeriodSeconds');
    });

    it('names objects after fullnameOverride', async function () {
      const objects = await render({ set: ['fullnameOverride=node-startup-lock', 'releaseOnReady=true'] });
      for (const obj of objects.filter((o) => o.kind !== 'Pod')) {
        expect(obj.metadata.name, obj.kind).to.equal(`node-startup-lock${obj.kind === 'ConfigMap' ? '-config' : ''}`);
      }
      const binding = get(objects, 'ClusterRoleBinding') as K8sObject & { subjects: { name: string }[] };
      expect(binding.subjects[0]?.name).to.equal('node-startup-lock');
    });

    it('uses an existing ServiceAccount when serviceAccount.create is false', async function () {
      const objects = await render({ set: ['serviceAccount.create=false', 'serviceAccount.name=lock-sa', 'events=true'] });
      expect(find(objects, 'ServiceAccount')).to.equal(undefined);
      expect(podSpec(objects).serviceAccountName).to.equal('lock-sa');
      const binding = get(objects, 'ClusterRoleBinding') as K8sObject & { subjects: { name: string }[] };
      expect(binding.subjects[0]?.name).to.equal('lock-sa');
    });
  });

  describe('features and the RBAC they add', function () {
    it('releaseOnReady: turns on releaseOnReady with the probe interval and may only read pods', async function () {
      const objects = await render({ set: ['releaseOnReady=true', 'readyProbeInterval=0'] });
      expect(configOptions(objects, 'server.yaml')).to.include({ releaseOnReady: true, readyProbeInterval: 0 });
      expect(podSpec(objects).automountServiceAccountToken).to.equal(true);
      expect(permissions(objects)).to.deep.equal({ pods: READ_ONLY });
    });

    it('events: turns on events and may only create and patch events', async function () {
      const objects = await render({ set: ['events=true', 'releaseOnReady=false'] });
      expect(configOptions(objects, 'server.yaml')).to.include({ events: true });
      expect(podSpec(objects).automountServiceAccountToken).to.equal(true);
      expect(permissions(objects)).to.deep.equal({ events: ['create', 'patch'] });
    });

    it('k8sHealth: adds the health sidecar, wires it in as a check and may read DaemonSets, pods and nodes', async function () {
      const objects = await render({
        set: ['k8sHealth.enabled=true', 'checks[0]=tcp://127.0.0.1:10250', 'releaseOnReady=false'],
      });
      const health = container(objects, 'health');
      expect(health.args).to.deep.equal(['health', '--config', '/etc/startup-lock/config/health.yaml']);
      expect(configOptions(objects, 'health.yaml')).to.include({
        port: 9999,
        host: '127.0.0.1',
        selfName: FULLNAME,
        selfNamespace: NAMESPACE,
      });
      expect(envFieldPath(health, 'NODE_NAME')).to.equal('spec.nodeName');
      expect(health.image).to.equal(container(objects, 'server').image);
      expect(health.securityContext?.readOnlyRootFilesystem).to.equal(true);
      expect(health.securityContext?.capabilities?.drop).to.deep.equal(['ALL']);
      expect(configOptions(objects, 'server.yaml').check).to.deep.equal([
        'tcp://127.0.0.1:10250',
        'http://127.0.0.1:9999/',
      ]);
      expect(podSpec(objects).automountServiceAccountToken).to.equal(true);
      expect(permissions(objects)).to.deep.equal({ daemonsets: READ_ONLY, nodes: READ_ONLY, pods: READ_ONLY });
    });

    it('every feature at once: pods, DaemonSets and nodes read-only, events create only', async function () {
      const objects = await render({ set: ['k8sHealth.enabled=true', 'releaseOnReady=true', 'events=true'] });
      for (const obj of objects) validateObject(obj);
      expect(permissions(objects)).to.deep.equal({
        daemonsets: READ_ONLY,
        events: ['create', 'patch'],
        nodes: READ_ONLY,
        pods: READ_ONLY,
      });
      for (const rule of rules(objects)) {
        expect(rule.verbs).not.to.include('*');
        expect(rule.resources).not.to.include('*');
        expect(rule.apiGroups).not.to.include('*');
      }
      const binding = get(objects, 'ClusterRoleBinding', FULLNAME) as K8sObject & {
        roleRef: { kind: string; name: string };
        subjects: { kind: string; name: string; namespace: string }[];
      };
      expect(binding.roleRef).to.include({ kind: 'ClusterRole', name: FULLNAME });
      expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NAMESPACE }]);
    });

    it('rbac.create=false: no RBAC objects, but the token is still mounted for the feature', async function () {
      const objects = await render({ set: ['rbac.create=false', 'releaseOnReady=true'] });
      expect(find(objects, 'ClusterRole')).to.equal(undefined);
      expect(find(objects, 'ClusterRoleBinding')).to.equal(undefined);
      expect(podSpec(objects).automountServiceAccountToken).to.equal(true);
    });

    it('rejects a k8sHealth port equal to the server port', async function () {
      const result = await renderRaw({ set: ['k8sHealth.enabled=true', 'k8sHealth.port=8888'] });
      expect(result.code).to.not.equal(0);
      expect(result.stderr).to.include('k8sHealth.port');
    });

    it('stateFile: mounts a hostPath directory and points stateFile inside it', async function () {
      const objects = await render({ set: ['stateFile.enabled=true', 'stateFile.hostPath=/var/lib/lock-test'] });
      const spec = podSpec(objects);
      const volume = spec.volumes?.find((v) => v.hostPath);
      expect(volume?.hostPath).to.deep.equal({ path: '/var/lib/lock-test', type: 'DirectoryOrCreate' });
      const mount = container(objects, 'server').volumeMounts?.find((m) => m.name === volume?.name);
      expect(mount?.readOnly).to.not.equal(true);
      expect(configOptions(objects, 'server.yaml').stateFile).to.equal(`${mount?.mountPath}/state.json`);
      // The hostPath directory is created root-owned; a minimal root init container hands it over.
      const init = spec.initContainers?.[0];
      expect(init?.securityContext?.capabilities).to.deep.equal({ drop: ['ALL'], add: ['CHOWN'] });
      expect(init?.command?.join(' ')).to.include(`chown 65532:65532 ${mount?.mountPath}`);
    });

    it('stateFile.fixPermissions=false: no root init container', async function () {
      const objects = await render({ set: ['stateFile.enabled=true', 'stateFile.fixPermissions=false'] });
      expect(podSpec(objects).initContainers).to.equal(undefined);
    });

    it('tokenSecret: mounts the Secret read-only and points tokenFile at the file in it', async function () {
      const objects = await render({ set: ['tokenSecret=lock-token'] });
      const volume = podSpec(objects).volumes?.find((v) => v.secret);
      expect(volume?.secret).to.deep.equal({ secretName: 'lock-token', items: [{ key: 'token', path: 'token' }] });
      const mount = container(objects, 'server').volumeMounts?.find((m) => m.name === volume?.name);
      expect(mount?.readOnly).to.equal(true);
      expect(configOptions(objects, 'server.yaml').tokenFile).to.equal(`${mount?.mountPath}/token`);
    });

    it('hostNetwork=false: pod network with a hostPort, ClusterFirst DNS', async function () {
      const objects = await render({ set: ['hostNetwork=false', 'port=8080', 'hostPort=18888'] });
      const spec = podSpec(objects);
      expect(spec.hostNetwork).to.equal(false);
      expect(spec.dnsPolicy).to.equal('ClusterFirst');
      expect(container(objects, 'server').ports).to.deep.equal([
        { name: 'http', containerPort: 8080, hostPort: 18888, protocol: 'TCP' },
      ]);
      expect(configOptions(objects, 'server.yaml').port).to.equal(8080);
      const test = asPod(get(objects, 'Pod')).spec?.containers[0];
      expect(test?.env?.find((e) => e.name === 'LOCK_PORT')?.value).to.equal('18888');
    });

    it('rejects a hostPort different from port on the host network', async function () {
      const result = await renderRaw({ set: ['hostPort=9000'] });
      expect(result.code).to.not.equal(0);
      expect(result.stderr).to.include('hostPort');
    });
  });

  describe('monitoring objects', function () {
    let objects: K8sObject[];
    const rulesFile = parse(readFileSync(path.join(chartDir, 'files/prometheus-rules.yaml'), 'utf8')) as {
      groups: { name: string; rules: { alert?: string }[] }[];
    };
    before(async function () {
      objects = await render({
        set: [
          'metrics.serviceMonitor.enabled=true',
          'metrics.serviceMonitor.interval=15s',
          'metrics.serviceMonitor.labels.release=prom',
          'metrics.podMonitor.enabled=true',
          'metrics.prometheusRule.enabled=true',
          'metrics.prometheusRule.namespace=monitoring',
          'grafanaDashboard.enabled=true',
        ],
      });
    });

    it('renders none of them by default', async function () {
      const defaults = await render();
      for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule']) {
        expect(find(defaults, kind), kind).to.equal(undefined);
      }
      expect(find(defaults, 'ConfigMap', `${FULLNAME}-dashboard`), 'dashboard ConfigMap').to.equal(undefined);
    });

    it('ServiceMonitor scrapes /metrics on the headless Service and labels each series with its node', function () {
      const sm = get(objects, 'ServiceMonitor', FULLNAME) as K8sObject & {
        spec: { selector: { matchLabels: Record<string, string> }; endpoints: Record<string, unknown>[] };
      };
      validateObject(sm);
      const service = get(objects, 'Service', FULLNAME);
      expect(service.metadata.labels).to.include(sm.spec.selector.matchLabels);
      expect(sm.metadata.labels).to.include({ release: 'prom' });
      expect(sm.spec.endpoints[0]).to.include({ port: 'http', path: '/metrics', interval: '15s' });
      expect(sm.spec.endpoints[0]?.relabelings).to.deep.include({
        sourceLabels: ['__meta_kubernetes_pod_node_name'],
        targetLabel: 'node',
        action: 'replace',
      });
    });

    it('PodMonitor scrapes the pods directly', function () {
      const pm = get(objects, 'PodMonitor', FULLNAME) as K8sObject & {
        spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Record<string, unknown>[] };
      };
      validateObject(pm);
      const ds = asDaemonSet(get(objects, 'DaemonSet', FULLNAME));
      expect(ds.spec?.template.metadata?.labels).to.include(pm.spec.selector.matchLabels);
      expect(pm.spec.podMetricsEndpoints[0]).to.include({ port: 'http', path: '/metrics' });
    });

    it('PrometheusRule carries exactly the groups of files/prometheus-rules.yaml', function () {
      const rule = get(objects, 'PrometheusRule', FULLNAME) as K8sObject & { spec: { groups: unknown } };
      validateObject(rule);
      expect(rule.metadata.namespace).to.equal('monitoring');
      expect(rule.spec.groups).to.deep.equal(rulesFile.groups);
      const alerts = rulesFile.groups.flatMap((g) => g.rules.map((r) => r.alert));
      expect(alerts).to.include('StartupLockDown');
    });

    it('dashboard ConfigMap holds the dashboard JSON, labelled for the Grafana sidecar', function () {
      const cm = get(objects, 'ConfigMap', `${FULLNAME}-dashboard`) as K8sObject & { data: Record<string, string> };
      validateObject(cm);
      expect(cm.metadata.labels).to.include({ grafana_dashboard: '1' });
      const json = cm.data['startup-lock.json'] ?? '';
      const onDisk = readFileSync(path.join(chartDir, 'dashboards/startup-lock.json'), 'utf8');
      expect(JSON.parse(json)).to.deep.equal(JSON.parse(onDisk));
    });

    it('rejects a ServiceMonitor without the Service it selects', async function () {
      const result = await renderRaw({ set: ['metrics.serviceMonitor.enabled=true', 'service.enabled=false'] });
      expect(result.code).to.not.equal(0);
      expect(result.stderr).to.include('service.enabled');
    });
  });
});
