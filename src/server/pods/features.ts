// The lock server's Kubernetes features, assembled in one place so server.ts only creates, starts and
// stops them: --release-on-ready (the pod watcher) and --events (the Event recorder).
import { hostname } from 'node:os';
import type { Clock } from '../../clock.js';
import type { ServerConfig } from '../../config/server.js';
import type { LockEngine } from '../../lock/engine.js';
import type { Logger } from '../../log.js';
import { EventRecorder } from './events.js';
import { loadKubeConfig } from '../../kube/kube-config.js';
import { PodWatcher } from './watcher.js';

export interface KubeFeatures {
  /** Begin watching (call once the server listens). */
  start(): void;
  stop(): Promise<void>;
}

type Config = Pick<
  ServerConfig,
  'releaseOnReady' | 'readyProbeInterval' | 'events' | 'nodeName' | 'kubeconfig'
>;

/** Null when neither feature is on (no Kubernetes API needed at all). */
export function createKubeFeatures(
  config: Config,
  engine: LockEngine,
  clock: Clock,
  log: Logger,
): KubeFeatures | null {
  if (!config.releaseOnReady && !config.events) return null;
  const kubeConfig = loadKubeConfig(config.kubeconfig);
  const pods = config.releaseOnReady
    ? new PodWatcher({
        kubeConfig,
        nodeName: config.nodeName,
        engine,
        clock,
        log,
        readyProbeIntervalMs: config.readyProbeInterval,
      })
    : null;
  const events = config.events
    ? new EventRecorder({
        kubeConfig,
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
          events: events !== null,
          node: config.nodeName,
        },
        'kubernetes features on',
      );
    },
    async stop() {
      pods?.stop();
      await events?.close();
    },
  };
}
