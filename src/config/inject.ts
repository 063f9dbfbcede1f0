// Options of `startup-lock inject`, the mutating admission webhook that adds the `acquire` init
// container to pods of opted-in namespaces. It serves /mutate over TLS on --port and its own probes and
// metrics over plain HTTP on --health-port (the probes must answer before a certificate exists).
// The chart sets the options with a `chart:` value (`injector.*`); it computes the names, file paths and
// --host (listenAddress, shared with the server) itself, in startup-lock.injectConfig (_helpers.tpl).
import { kubeconfig, listenHost, listenPort, logLevel } from './common.js';
import type { CommandSpec } from './load.js';
import { option, type ConfigOf } from './options.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const injectSchema = {
  host: listenHost,
  port: {
    ...listenPort(8443),
    doc: "TLS port of the webhook's /mutate (0 picks a free one).",
    chart: 'injector.port',
    chartMin: 1,
    chartNote: 'in the chart 1-65535',
  },
  healthPort: option({
    kind: 'int',
    doc: 'Plain-HTTP port of /healthz, /readyz and /metrics (0 picks a free one).',
    default: 8081,
    min: 0,
    max: 65535,
    chart: 'injector.healthPort',
    chartMin: 1,
    chartNote: 'in the chart 1-65535',
  }),
  kubeconfig,
  namespace: option({
    kind: 'string',
    doc: "The webhook's own namespace: where its Secret lives; its pods are never injected.",
    default: '',
    fallbackEnv: ['POD_NAMESPACE'],
  }),
  webhookName: option({
    kind: 'string',
    doc: 'Name of the MutatingWebhookConfiguration whose caBundle this webhook keeps.',
    default: 'startup-lock-injector',
  }),
  secretName: option({
    kind: 'string',
    doc: 'Name of the Secret (in --namespace) holding the CA and the serving certificate.',
    default: 'startup-lock-injector-tls',
  }),
  serviceName: option({
    kind: 'string',
    doc: 'Name of the Service in front of the webhook: the serving certificate is issued for it.',
    default: 'startup-lock-injector',
  }),
  containerFile: option({
    kind: 'string',
    doc: 'The init container to inject, YAML or JSON, as the startup-lock-client library renders it.',
    default: '',
  }),
  tlsCertFile: option({
    kind: 'string',
    doc: 'Serving certificate from a file (cert-manager); empty means the webhook issues its own.',
    default: '',
  }),
  tlsKeyFile: option({
    kind: 'string',
    doc: 'Private key of --tls-cert-file.',
    default: '',
  }),
  certValidity: option({
    kind: 'duration',
    doc: 'Lifetime of a serving certificate the webhook issues itself.',
    default: 365 * DAY,
    min: HOUR,
    max: 10 * 365 * DAY,
  }),
  caValidity: option({
    kind: 'duration',
    doc: "Lifetime of the webhook's own CA.",
    default: 5 * 365 * DAY,
    min: HOUR,
    max: 20 * 365 * DAY,
  }),
  renewBefore: option({
    kind: 'duration',
    doc: 'Issue a new certificate (or CA) this long before the current one expires.',
    default: 30 * DAY,
    min: 60_000,
    max: 5 * 365 * DAY,
  }),
  resync: option({
    kind: 'duration',
    doc: 'How often the Secret, the caBundle and the certificate files are checked again.',
    default: 60_000,
    min: 100,
    max: HOUR,
  }),
  meshExcludePort: option({
    kind: 'boolean',
    doc: "Add the lock port to Istio's and Linkerd's outbound exclusions, so a mesh does not redirect the init container.",
    default: true,
    chart: 'injector.serviceMesh.excludeLockPort',
    chartNote:
      "the pod's `traffic.sidecar.istio.io/excludeOutboundPorts` and `config.linkerd.io/skip-outbound-ports`",
  }),
  logLevel: { ...logLevel, chart: 'injector.logLevel', chartNote: "the webhook's own" },
};

export type InjectConfig = ConfigOf<typeof injectSchema>;

export const injectCommand: CommandSpec<typeof injectSchema> = {
  name: 'inject',
  summary:
    'Mutating admission webhook: adds the startup-lock acquire init container, first, to pods of ' +
    'opted-in namespaces (POST /mutate over TLS).',
  schema: injectSchema,
  check(config) {
    const problems: string[] = [];
    if (config.containerFile === '') problems.push('--container-file: needed (the init container to inject)');
    if (config.namespace === '') {
      problems.push('--namespace: needed (or $POD_NAMESPACE, from the downward API metadata.namespace)');
    }
    if ((config.tlsCertFile === '') !== (config.tlsKeyFile === '')) {
      problems.push('--tls-cert-file and --tls-key-file: give both or neither');
    }
    if (config.renewBefore >= config.certValidity) {
      problems.push('--renew-before: must be shorter than --cert-validity');
    }
    if (config.certValidity > config.caValidity) {
      problems.push('--cert-validity: must not be longer than --ca-validity');
    }
    return problems;
  },
};
