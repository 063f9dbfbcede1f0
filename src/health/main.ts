// `startup-lock health`: parse the config, follow this node's DaemonSets and serve the verdict over HTTP
// until SIGTERM/SIGINT. API trouble is reported as 412 with the reason, never a crash.
import { systemClock } from '../clock.js';
import { healthCommand } from '../config/health.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { untilStopSignal } from '../signals.js';
import { DaemonSetHealth } from './daemonset-health.js';
import { startHealthHttp } from './http.js';
import { loadKubeConfig } from '../kube/kube-config.js';

export async function main(argv: string[]): Promise<number> {
  const { config } = loadConfig(healthCommand, argv);
  const kubeConfig = loadKubeConfig(config.kubeconfig);
  const log = createLogger('health', config.logLevel);
  const health = new DaemonSetHealth({
    kubeConfig,
    nodeName: config.nodeName,
    namespace: config.namespace,
    hostNet: config.hostNet,
    include: config.in,
    exclude: config.ex,
    selfName: config.selfName,
    selfNamespace: config.selfNamespace,
    failResyncMs: config.failHc,
    passResyncMs: config.passHc,
    clock: systemClock,
    log,
  });
  const http = await startHealthHttp(health, config.host, config.port);
  health.start();
  log.info(
    { host: config.host, port: http.port, node: config.nodeName, namespace: config.namespace || null },
    'startup-lock health ready',
  );
  const signal = await untilStopSignal();
  log.info({ signal }, 'signal received');
  await http.close();
  health.stop();
  log.info('stopped');
  return 0;
}
