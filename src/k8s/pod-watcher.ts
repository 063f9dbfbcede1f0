// --release-on-ready: watches the pods on this node and ends a lease the moment its holder pod
// (`namespace/pod`) is Ready ('ready'), or is deleted, failed or completed ('pod_gone', which also takes
// it out of the queue). The lease's duration stays the upper bound: while the API cannot be reached,
// nothing is released early and leases simply run to their expiry.
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../clock.js';
import type { LockEngine } from '../lock/engine.js';
import type { Lease } from '../lock/types.js';
import type { Logger } from '../log.js';
import { requestTimeout } from './kube-config.js';
import { holderOf, isFinished, isReady } from './pods.js';
import { Reflector, type ChangeType } from './reflector.js';

/** The part of the engine the watcher drives. */
export type ReleasingEngine = Pick<LockEngine, 'releaseHolder' | 'leaseOf' | 'listen'>;

export interface PodWatcherOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  engine: ReleasingEngine;
  clock: Clock;
  log: Logger;
  /** Bound on each list request. */
  requestTimeoutMs?: number;
}

export class PodWatcher {
  private readonly reflector: Reflector<V1Pod>;
  private running = false;

  constructor(private readonly options: PodWatcherOptions) {
    const { kubeConfig, nodeName, clock, log } = options;
    const api = kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `spec.nodeName=${nodeName}`;
    const timeout = requestTimeout(options.requestTimeoutMs ?? 10_000);
    this.reflector = new Reflector<V1Pod>({
      kubeConfig,
      resource: 'pods',
      path: '/api/v1/pods',
      fieldSelector,
      list: () => api.listPodForAllNamespaces({ fieldSelector }, timeout),
      onChange: (type, pod) => this.judge(type, pod),
      onHealth: (error) => {
        if (error !== null) {
          log.warn(
            { err: error.message, node: nodeName },
            'release-on-ready: cannot follow the pods on this node; leases run to their duration meanwhile',
          );
        } else log.info({ node: nodeName }, 'release-on-ready: following the pods on this node again');
      },
      clock,
      log,
    });
    // A pod may already be Ready (or gone) when its lease is granted, e.g. after a container restart.
    // Judged after the grant returns, so the engine is not re-entered while it is granting.
    options.engine.listen({
      granted: (lease) => queueMicrotask(() => this.judgeGrant(lease)),
    });
  }

  start(): void {
    this.running = true;
    this.reflector.start();
  }

  stop(): void {
    this.running = false;
    this.reflector.stop();
  }

  /** The UID of a pod on this node, from the watch (saves a GET when recording Events). */
  uidOf(namespace: string, name: string): string | undefined {
    return this.reflector.get(namespace, name)?.metadata?.uid;
  }

  private judgeGrant(lease: Lease): void {
    if (!this.running) return;
    const [namespace, name] = lease.holder.split('/');
    if (namespace === undefined || name === undefined) return;
    const pod = this.reflector.get(namespace, name);
    if (pod !== undefined) this.judge('MODIFIED', pod);
  }

  private judge(type: ChangeType, pod: V1Pod): void {
    if (!this.running) return;
    const holder = holderOf(pod);
    const { engine, log } = this.options;
    const lease = engine.leaseOf(holder);
    // A lease taken by an earlier pod of the same name (a StatefulSet pod recreated) is not this one's.
    const uid = pod.metadata?.uid;
    if (lease?.uid && uid && lease.uid !== uid) return;
    if (type === 'DELETED' || isFinished(pod)) {
      if (engine.releaseHolder(holder, 'pod_gone')) {
        log.debug({ holder, lease: lease?.id, phase: pod.status?.phase }, 'holder pod gone');
      }
    } else if (lease !== undefined && isReady(pod)) {
      engine.releaseHolder(holder, 'ready');
    }
  }
}
