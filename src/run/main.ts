// `startup-lock run --name NAME [options] -- COMMAND [ARGS…]`: argv → validated config → Runner.
// Logs go to stderr so the command's stdout stays exactly its own.
import { systemClock } from '../clock.js';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { runCommand } from '../config/run.js';
import type { LeaseApi } from './lease-lock.js';
import { createLogger } from '../log.js';
import { resolveIdentity, resolveNamespace } from './identity.js';

export async function main(argv: string[]): Promise<number> {
  const { config, rest } = loadConfig(runCommand, argv);
  if (rest.length === 0) {
    throw new ConfigError([
      'no command to run: give it after --, e.g. startup-lock run --name db-migrations -- ./migrate.sh',
    ]);
  }
  // The Kubernetes client takes most of a second to load: only once the settings are known good, so
  // --help and configuration errors answer at once.
  const { CoordinationV1Api } = await import('@kubernetes/client-node');
  const { contextNamespace, loadKubeConfig, requestTimeout, serviceAccountNamespace } =
    await import('../kube/kube-config.js');
  const { LeaseLock } = await import('./lease-lock.js');
  const { LeaseWatch } = await import('./lease-watch.js');
  const { Runner } = await import('./runner.js');
  const kubeConfig = loadKubeConfig(config.kubeconfig);
  const log = createLogger('run', config.logLevel, 'stderr');
  const namespace = resolveNamespace({
    option: config.namespace,
    kubeconfig: config.kubeconfig !== '' ? contextNamespace(kubeConfig) : undefined,
    serviceAccount: serviceAccountNamespace(),
  });
  const { identity, warning } = resolveIdentity(config.id);
  if (warning !== undefined) log.warn({ identity }, warning);

  // Every call gives up after the renew deadline: a hung request must not outlive the lease it serves.
  const leases = kubeConfig.makeApiClient(CoordinationV1Api);
  const timeout = requestTimeout(config.renewDeadline);
  const api: LeaseApi = {
    readNamespacedLease: (param) => leases.readNamespacedLease(param, timeout),
    createNamespacedLease: (param) => leases.createNamespacedLease(param, timeout),
    replaceNamespacedLease: (param) => leases.replaceNamespacedLease(param, timeout),
  };
  const lock = new LeaseLock({
    api,
    namespace,
    name: config.name,
    holders: config.holders,
    identity,
    leaseDurationMs: config.leaseDuration,
    clock: systemClock,
  });
  const runLog = log.child({ lock: `${namespace}/${config.name}`, holder: identity });
  runLog.debug({ leases: lock.names }, 'starting');
  const runner = new Runner({
    config,
    command: rest,
    lock,
    log: runLog,
    clock: systemClock,
    watch: (onChange) => {
      const watch = new LeaseWatch({
        kubeConfig,
        namespace,
        names: lock.names,
        onChange,
        retryMs: config.retryPeriod,
        clock: systemClock,
        log: runLog,
      });
      watch.start();
      return () => watch.stop();
    },
  });
  // Our timers are unref'd (systemClock); this keeps the process alive until the runner is done.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    return await runner.run();
  } finally {
    clearInterval(keepAlive);
  }
}
