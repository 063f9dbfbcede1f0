// The lock server's Kubernetes features, assembled in one place so server.ts only creates, starts and
// stops them: --release-on-ready (the pod watcher, and with --count-unleased the counter of start-ups
// without a lease it feeds) and --events (the Event recorder). They talk to the API through the lean
// client (src/kube/client.ts), so the server never loads @kubernetes/client-node (~75 MB of RSS on every
// node: docs/benchmarks.md).
import { hostname } from 'node:os';
import type { Clock } from '../../clock.js';
import type { ServerConfig } from '../../config/server.js';
import type { LockEngine } from '../../lock/engine.js';
import type { Logger } from '../../log.js';
import { leanEventsApi } from '../../kube/adapters.js';
import { KubeApiClient } from '../../kube/client.js';
import { loadKubeCredentials } from '../../kube/credentials.js';
import { EventRecorder } from './events.js';
import { UnleasedCounter } from './unleased.js';
import { PodWatcher } from './watcher.js';

export interface KubeFeatures {
  /** Begin watching (call once the server listens). */
  start(): void;
  stop(): Promise<void>;
}

type Config = Pick<
  ServerConfig,
  | 'releaseOnReady'
  | 'readyProbeInterval'
  | 'events'
  | 'nodeName'
  | 'kubeconfig'
  | 'countUnleased'
  | 'unleasedMax'
  | 'unleasedExcludeNamespace'
  | 'unleasedExcludeLabel'
  | 'unleasedDaemonsets'
  | 'podName'
  | 'podNamespace'
>;

/** Null when neither feature is on (no Kubernetes API needed at all). Credentials it cannot use: ConfigError. */
export async function createKubeFeatures(
  config: Config,
  engine: LockEngine,
  clock: Clock,
  log: Logger,
): Promise<KubeFeatures | null> {
  if (!config.releaseOnReady && !config.events) return null;
  const api = new KubeApiClient(await loadKubeCredentials(config.kubeconfig), {
    userAgent: 'startup-lock/server',
  });
  const unleased =
    config.releaseOnReady && config.countUnleased
      ? new UnleasedCounter({
          rules: {
            maxMs: config.unleasedMax,
            excludeNamespaces: config.unleasedExcludeNamespace,
            excludeLabels: config.unleasedExcludeLabel,
            daemonSets: config.unleasedDaemonsets,
            self: config.podName === '' ? '' : `${config.podNamespace}/${config.podName}`,
          },
          engine,
          clock,
          log,
          probeIntervalMs: config.readyProbeInterval,
        })
      : null;
  const pods = config.releaseOnReady
    ? new PodWatcher({
        api,
        nodeName: config.nodeName,
        engine,
        clock,
        log,
        readyProbeIntervalMs: config.readyProbeInterval,
        unleased,
      })
    : null;
  const events = config.events
    ? new EventRecorder({
        api: leanEventsApi(api),
        // Events name where they come from; without --node-name the host name is the next best thing.
        nodeName: config.nodeName || hostname(),
        clock,
        log,
        uidOf: pods ? (namespace, name) => pods.uidOf(namespace, name) : undefined,
      })
    : null;
  events?.attach(engine);
  return {
    start() {
      pods?.start();
      log.info(
        {
          releaseOnReady: pods !== null,
          readyProbeIntervalMs: pods !== null ? config.readyProbeInterval : null,
          countUnleased: unleased !== null ? { maxMs: config.unleasedMax, self: config.podName } : false,
          events: events !== null,
          node: config.nodeName,
        },
        'kubernetes features on',
      );
    },
    async stop() {
      pods?.stop();
      await events?.close();
      api.close();
    },
  };
}
