// Options of `startup-lock run`, the cluster-wide lock on Lease objects (the kubelock successor).
// kubelock's flags keep their names, defaults and meaning; timing rules are client-go's leader election
// rules, reported as config errors instead of a panic.
import { kubeconfig, logLevel } from './common.js';
import type { CommandSpec } from './load.js';
import { option, type ConfigOf } from './options.js';
import { formatDuration } from './formats.js';

const HOUR = 3_600_000;
/** client-go's JitterFactor: the renew deadline must leave room for a jittered retry. */
const JITTER_FACTOR = 1.2;
/** Lease names are DNS subdomains; `-N` is appended for --holders > 1. */
const LEASE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const runSchema = {
  name: option({
    kind: 'string',
    doc: 'Lock name: the Lease object (NAME for --holders 1, NAME-0 … NAME-(N-1) otherwise).',
    default: '',
  }),
  namespace: option({
    kind: 'string',
    doc: "Namespace of the Lease; empty means the pod's own (service-account namespace), else default.",
    default: '',
    fallbackEnv: ['POD_NAMESPACE'],
  }),
  holders: option({
    kind: 'int',
    doc: 'How many may hold the lock at once (one Lease each).',
    default: 1,
    min: 1,
    max: 100,
  }),
  once: option({
    kind: 'boolean',
    doc: 'Run the command once in the cluster: after one holder succeeds, later holders skip it and exit 0.',
    default: false,
  }),
  waitTimeout: option({
    kind: 'duration',
    doc: 'Longest wait for the lock before exiting 1; 0 waits forever.',
    default: 0,
    min: 0,
    max: 24 * HOUR,
  }),
  leaseDuration: option({
    kind: 'duration',
    doc: 'How long a Lease stays valid after its last renewal; then another holder may take it over.',
    default: 15_000,
    min: 1000,
    max: HOUR,
  }),
  renewDeadline: option({
    kind: 'duration',
    doc: 'How long the holder keeps retrying a failed renewal before it gives up and stops the command.',
    default: 10_000,
    min: 100,
    max: HOUR,
  }),
  retryPeriod: option({
    kind: 'duration',
    doc: 'Pause between renewals, and between attempts to take the lock.',
    default: 2000,
    min: 50,
    max: HOUR,
  }),
  killAfter: option({
    kind: 'duration',
    doc: "After the lock is lost: longest pause between SIGTERM and SIGKILL to the command's process group (shortened to the Lease's expiry when renewals failed, so it never overlaps the next holder).",
    default: 10_000,
    min: 0,
    max: HOUR,
  }),
  id: option({
    kind: 'string',
    doc: 'Holder identity; empty means $POD_NAME_$POD_UID (downward API), else hostname plus a random suffix.',
    default: '',
  }),
  kubeconfig,
  logLevel,
};

export type RunConfig = ConfigOf<typeof runSchema>;

export const runCommand: CommandSpec<typeof runSchema> = {
  name: 'run',
  usage: '--name NAME [options] -- COMMAND [ARGS…]',
  summary: [
    'Hold a cluster-wide lock (a coordination.k8s.io/v1 Lease) while COMMAND runs; renew it every',
    '--retry-period; if it cannot be renewed for --renew-deadline, stop COMMAND. Logs go to stderr',
    "(JSON lines); COMMAND's stdin, stdout and stderr are passed through untouched.",
    '',
    'Exit status:',
    "  COMMAND's own status once it ran (128+N if it was killed by signal N);",
    '  0  with --once, when the command had already completed in the cluster (it is skipped);',
    '  1  --wait-timeout passed before the lock was taken (COMMAND did not run);',
    '  2  bad usage or configuration;',
    '  3  the lock was lost while COMMAND ran (COMMAND was stopped: SIGTERM, then SIGKILL);',
    '  4  the Kubernetes API refused access (401/403): the message names the verb and resource to grant.',
  ].join('\n'),
  schema: runSchema,
  passthrough: true,
  check(config) {
    const problems: string[] = [];
    if (config.name === '') {
      problems.push('--name: needed: the name of the lock (the Lease object), e.g. --name db-migrations');
    } else {
      const longest = config.holders > 1 ? `${config.name}-${config.holders - 1}` : config.name;
      if (!LEASE_NAME.test(config.name) || longest.length > 253) {
        problems.push(
          `--name: "${config.name}" is not allowed: expected a Kubernetes object name (lower-case letters, digits, '-' and '.', at most 253 characters with the -N suffix)`,
        );
      }
    }
    const show = formatDuration;
    if (config.leaseDuration % 1000 !== 0) {
      problems.push(
        `--lease-duration: ${show(config.leaseDuration)} is not allowed: expected whole seconds (Lease.spec.leaseDurationSeconds)`,
      );
    }
    if (config.leaseDuration <= config.renewDeadline) {
      problems.push(
        `--lease-duration: must be greater than --renew-deadline (${show(config.leaseDuration)} <= ${show(config.renewDeadline)}), or another holder could take the lock while the command still runs`,
      );
    }
    if (config.renewDeadline <= JITTER_FACTOR * config.retryPeriod) {
      problems.push(
        `--renew-deadline: must be greater than ${JITTER_FACTOR} × --retry-period (${show(config.renewDeadline)} <= ${show(Math.round(JITTER_FACTOR * config.retryPeriod))}), or a single slow renewal loses the lock`,
      );
    }
    if (config.once && config.holders > 1) {
      problems.push('--once: runs the command once in the cluster, so it needs --holders 1');
    }
    return problems;
  },
};
