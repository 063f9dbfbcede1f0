// Options of `startup-lock acquire`, the init-container client. The original client's flags (--host,
// --port, --duration, --pause) keep their names and meaning; the rest drive the lease API. The options with
// a `chart:` value are the app chart's `startupLock.*` settings: the startup-lock-client library turns them
// into the init container's args (its generated templates/_acquire_options.tpl).
import { logLevel } from './common.js';
import type { CommandSpec } from './load.js';
import { option, type ConfigOf } from './options.js';

const HOUR = 3_600_000;

export const acquireSchema = {
  host: option({
    kind: 'string',
    doc: 'Lock server address: host name, IPv4 or IPv6 (the node IP from the downward API, $HOST_IP).',
    default: 'localhost',
    fallbackEnv: ['HOST_IP'],
  }),
  port: option({
    kind: 'int',
    doc: 'Lock server port.',
    default: 8888,
    min: 1,
    max: 65535,
    chart: 'startupLock.port',
  }),
  duration: option({
    kind: 'duration',
    doc: 'How long to hold the lock once granted, in whole seconds; 0 takes the server default.',
    default: 0,
    min: 0,
    max: 24 * HOUR,
    wholeSeconds: true,
    chart: 'startupLock.duration',
  }),
  pause: option({
    kind: 'duration',
    doc: 'Shortest pause between two polls that return at once (legacy API, or a server that says wait).',
    default: 1000,
    min: 10,
    max: 10 * 60_000,
  }),
  timeout: option({
    kind: 'duration',
    doc: 'Give up (exit 1) when no lock was granted within this time; 0 waits forever.',
    default: 0,
    min: 0,
    max: 7 * 24 * HOUR,
    chart: 'startupLock.timeout',
  }),
  failOpenAfter: option({
    kind: 'duration',
    doc: 'Exit 0 with a warning when no lock server has been reachable for this long; 0 never does.',
    default: 0,
    min: 0,
    max: 7 * 24 * HOUR,
    chart: 'startupLock.failOpenAfter',
    chartDefault: 5 * 60_000,
  }),
  holder: option({
    kind: 'string',
    doc: 'Who waits, as namespace/pod; empty means $POD_NAMESPACE/$POD_NAME.',
    default: '',
  }),
  uid: option({
    kind: 'string',
    doc: "The pod's UID, sent so the server can tell a restarted pod of the same name apart.",
    default: '',
    fallbackEnv: ['POD_UID'],
  }),
  wait: option({
    kind: 'duration',
    doc: "Long poll: how long one request waits at the server (keep it at or under the server's --max-wait).",
    default: 55_000,
    min: 0,
    max: 10 * 60_000,
  }),
  tokenFile: option({
    kind: 'string',
    doc: 'File holding the bearer token the lease API requires (the server has --token-file).',
    default: '',
  }),
  logLevel,
};

export type AcquireConfig = ConfigOf<typeof acquireSchema>;

export const acquireCommand: CommandSpec<typeof acquireSchema> = {
  name: 'acquire',
  summary:
    'Init-container client: wait in line for a lease on the node-local lock server, then exit 0 ' +
    '(1: timed out, 2: bad usage).',
  schema: acquireSchema,
  check(config) {
    const problems: string[] = [];
    if (config.duration % 1000 !== 0) {
      problems.push(
        `--duration: must be whole seconds (the server counts in seconds), got ${config.duration}ms`,
      );
    }
    if (config.holder !== '' && !/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/.test(config.holder)) {
      problems.push(`--holder: "${config.holder}" is not allowed: expected namespace/pod`);
    }
    return problems;
  },
};
