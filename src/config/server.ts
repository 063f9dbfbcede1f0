// Options of `startup-lock server`. The original pod-startup-lock flags keep their names and meaning.
import { kubeconfig, listenHost, listenPort, logLevel, nodeName } from './common.js';
import type { CommandSpec } from './load.js';
import { option, type ConfigOf } from './options.js';

const HOUR = 3_600_000;

export const serverSchema = {
  host: listenHost,
  port: listenPort(8888),
  locks: option({
    kind: 'int',
    chart: 'locks',
    doc: 'Slots: start-ups allowed at the same time.',
    default: 1,
    min: 1,
    max: 1000,
  }),
  locksPerCore: option({
    kind: 'number',
    chart: 'locksPerCore',
    doc: 'Slots per CPU core of the node (rounded down, at least 1); 0 uses --locks.',
    default: 0,
    min: 0,
    max: 100,
  }),
  timeout: option({
    kind: 'duration',
    chart: 'timeout',
    doc: 'Default hold of a lease when the request names no duration.',
    default: 10_000,
    min: 1000,
    max: HOUR,
  }),
  maxDuration: option({
    kind: 'duration',
    chart: 'maxDuration',
    doc: 'Longest hold a request may ask for.',
    default: 600_000,
    min: 1000,
    max: 24 * HOUR,
  }),
  maxWait: option({
    kind: 'duration',
    chart: 'maxWait',
    doc: 'Longest long poll (wait) a lease request may ask for.',
    default: 60_000,
    min: 0,
    max: 10 * 60_000,
  }),
  queueGrace: option({
    kind: 'duration',
    chart: 'queueGrace',
    doc: 'How long a holder keeps its queue place between two polls.',
    default: 10_000,
    min: 0,
    max: 10 * 60_000,
  }),
  maxQueue: option({
    kind: 'int',
    chart: 'maxQueue',
    doc: 'Most holders waiting at once; more get 429.',
    default: 1000,
    min: 1,
    max: 100_000,
  }),
  maxLoad: option({
    kind: 'number',
    chart: 'maxLoad',
    doc: 'No grant while the 1-minute load average per core is above this; 0 turns it off.',
    default: 0,
    min: 0,
    max: 1000,
  }),
  loadavgFile: option({
    kind: 'string',
    doc: 'Where --max-load reads the load average (LXCFS or tests may point elsewhere).',
    default: '/proc/loadavg',
  }),
  check: option({
    kind: 'check',
    doc: 'Dependency that must be up before any grant: http(s)://… (2xx) or tcp://host:port.',
    default: [],
    repeatable: true,
  }),
  failHc: option({
    kind: 'duration',
    chart: 'failHc',
    flag: 'failHc',
    doc: 'Pause before re-checking a dependency that failed.',
    default: 10_000,
    min: 100,
    max: HOUR,
  }),
  passHc: option({
    kind: 'duration',
    chart: 'passHc',
    flag: 'passHc',
    doc: 'Pause before re-checking a dependency that passed.',
    default: 60_000,
    min: 100,
    max: HOUR,
  }),
  checkTimeout: option({
    kind: 'duration',
    chart: 'checkTimeout',
    doc: 'Timeout of one dependency check.',
    default: 5000,
    min: 100,
    max: 5 * 60_000,
  }),
  checkCaFile: option({ kind: 'string', doc: 'PEM CA bundle trusted by https:// checks.', default: '' }),
  maxConnections: option({
    kind: 'int',
    chart: 'maxConnections',
    chartNote: 'each idle connection costs ~20 KiB: keep it within `resources.limits.memory`',
    doc: 'Most HTTP connections served at once; more get 503 (a few extra are kept for health probes).',
    default: 2048,
    min: 16,
    max: 100_000,
  }),
  tokenFile: option({
    kind: 'string',
    doc: 'File holding a bearer token the lease API requires; empty leaves it open.',
    default: '',
  }),
  legacyApi: option({
    kind: 'boolean',
    chart: 'legacyApi',
    doc: 'Serve the pod-startup-lock API (GET /); with --token-file it stays open without a token.',
    default: true,
  }),
  releaseOnReady: option({
    kind: 'boolean',
    chart: 'releaseOnReady',
    chartDefault: true,
    chartNote: 'adds RBAC to read pods',
    doc: 'Release a lease as soon as its holder pod passes its own probes or is Ready, cannot start, is deleted or failed (needs --node-name).',
    default: false,
  }),
  readyProbeInterval: option({
    kind: 'duration',
    chart: 'readyProbeInterval',
    doc: "With --release-on-ready, how often the server runs a holder pod's own startup/readiness probe against its IP; 0 waits for the Ready condition only.",
    default: 100,
    min: 0,
    max: 60_000,
  }),
  countUnleased: option({
    kind: 'boolean',
    chart: 'countUnleased',
    doc: 'With --release-on-ready, a pod on the node starting an app container without a lease (no client, or a restart after its lease ended) takes a slot until it is started/ready, gone, or --unleased-max.',
    default: true,
  }),
  unleasedMax: option({
    kind: 'duration',
    chart: 'unleasedMax',
    doc: 'Longest a start-up without a lease takes a slot, from its container start.',
    default: 120_000,
    min: 1000,
    max: HOUR,
  }),
  unleasedExcludeNamespace: option({
    kind: 'namespace',
    chart: 'unleasedExcludeNamespaces',
    doc: 'Namespace whose pods never count as start-ups without a lease; repeatable.',
    default: [],
    repeatable: true,
  }),
  unleasedExcludeLabel: option({
    kind: 'label',
    chart: 'unleasedExcludeLabels',
    doc: 'Pods carrying this label (label:value) never count as start-ups without a lease; repeatable.',
    default: [],
    repeatable: true,
  }),
  unleasedDaemonsets: option({
    kind: 'boolean',
    chart: 'unleasedDaemonSets',
    doc: 'Count DaemonSet pods as start-ups without a lease (they only take slots and wait on nothing, so no deadlock with startup-lock health).',
    default: true,
  }),
  podName: option({
    kind: 'string',
    doc: "The server's own pod (downward API metadata.name), which never counts as a start-up without a lease.",
    default: '',
    fallbackEnv: ['POD_NAME'],
  }),
  podNamespace: option({
    kind: 'string',
    doc: "The server's own namespace (downward API metadata.namespace).",
    default: '',
    fallbackEnv: ['POD_NAMESPACE'],
  }),
  events: option({
    kind: 'boolean',
    chart: 'events',
    chartNote: 'adds RBAC to create events',
    doc: 'Record grants and releases as Kubernetes Events on the holder pod.',
    default: false,
  }),
  nodeName,
  kubeconfig,
  stateFile: option({
    kind: 'string',
    doc: 'File where leases and the queue survive a restart; empty keeps them in memory only.',
    default: '',
  }),
  shutdownTimeout: option({
    kind: 'duration',
    chart: 'shutdownTimeout',
    doc: 'Longest drain on SIGTERM before the process exits.',
    default: 10_000,
    min: 0,
    max: 10 * 60_000,
  }),
  logLevel: { ...logLevel, chart: 'logLevel' },
};

export type ServerConfig = ConfigOf<typeof serverSchema>;

export const serverCommand: CommandSpec<typeof serverSchema> = {
  name: 'server',
  summary: 'Node-local lock service: init containers queue on it so start-ups run N at a time.',
  schema: serverSchema,
  check(config) {
    const problems: string[] = [];
    if (config.timeout > config.maxDuration) {
      problems.push(
        `--timeout: must not exceed --max-duration (${config.timeout / 1000}s > ${config.maxDuration / 1000}s)`,
      );
    }
    if (config.releaseOnReady && config.nodeName === '') {
      problems.push('--release-on-ready: needs --node-name (or $NODE_NAME) to watch the pods on this node');
    }
    return problems;
  },
};
