// Options of `startup-lock health`. The original k8s-health flags keep their names and meaning
// (--namespace, --hostNet, --in, --ex, --failHc, --passHc on port 9999).
import { kubeconfig, listenHost, listenPort, logLevel, nodeName } from './common.js';
import type { CommandSpec } from './load.js';
import { option, type ConfigOf } from './options.js';

const HOUR = 3_600_000;

export const healthSchema = {
  host: listenHost,
  port: listenPort(9999),
  nodeName,
  namespace: option({
    kind: 'string',
    chart: 'k8sHealth.namespace',
    doc: 'Only DaemonSets in this namespace; empty means every namespace.',
    default: '',
  }),
  hostNet: option({
    kind: 'boolean',
    chart: 'k8sHealth.hostNetworkOnly',
    flag: 'hostNet',
    doc: 'Only DaemonSets whose pods use the host network.',
    default: false,
  }),
  in: option({
    kind: 'label',
    chart: 'k8sHealth.include',
    doc: 'Only DaemonSets carrying this label (label:value); repeat to accept any of several.',
    default: [],
    repeatable: true,
  }),
  ex: option({
    kind: 'label',
    chart: 'k8sHealth.exclude',
    doc: 'Skip DaemonSets carrying this label (label:value); repeatable. Not together with --in.',
    default: [],
    repeatable: true,
  }),
  failHc: option({
    kind: 'duration',
    chart: 'k8sHealth.failHc',
    flag: 'failHc',
    doc: 'While unhealthy, list everything again this often (watches update the answer in between).',
    default: 10_000,
    min: 100,
    max: HOUR,
  }),
  passHc: option({
    kind: 'duration',
    chart: 'k8sHealth.passHc',
    flag: 'passHc',
    doc: 'While healthy, list everything again this often (watches update the answer in between).',
    default: 60_000,
    min: 100,
    max: HOUR,
  }),
  selfName: option({
    kind: 'string',
    doc: "Name of the lock's own DaemonSet, skipped (its pods wait on this check: it would deadlock).",
    default: '',
  }),
  selfNamespace: option({
    kind: 'string',
    doc: 'Namespace of that DaemonSet; empty matches --self-name in any namespace.',
    default: '',
  }),
  kubeconfig,
  logLevel: { ...logLevel, chart: 'logLevel' },
};

export type HealthConfig = ConfigOf<typeof healthSchema>;

export const healthCommand: CommandSpec<typeof healthSchema> = {
  name: 'health',
  summary:
    'HTTP 200 when every DaemonSet that belongs on this node has its pod here Running and Ready, 412 otherwise.',
  schema: healthSchema,
  check(config) {
    const problems: string[] = [];
    if (config.nodeName === '') {
      problems.push('--node-name: needed (or $NODE_NAME, from the downward API spec.nodeName)');
    }
    if (config.in.length > 0 && config.ex.length > 0) {
      problems.push('--in and --ex: give one or the other, not both');
    }
    return problems;
  },
};
