// --release-on-ready: watches the pods on this node and ends a lease as soon as its holder pod
// (`namespace/pod`) is through its start-up: its own probes pass, run by the server (HolderProber,
// 'probe'), or its Ready condition is True ('ready'), whichever comes first. It also ends when an app
// container cannot start ('failed': CrashLoopBackOff, image pull or container config errors) and when
// the pod is deleted, failed or completed ('pod_gone', which also takes it out of the queue). A pod with
// no startup or readiness probe keeps its lease for its duration: nothing says when its start-up ends.
// The lease's duration stays the upper bound: while the API cannot be reached, nothing is released
// early and leases simply run to their expiry. Every pod change also goes to the UnleasedCounter (when
// on), which counts the start-ups that hold no lease.
import type { V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../clock.js';
import type { LockEngine } from '../../lock/engine.js';
import type { Holder, Lease, LeaseId, ReleaseNote } from '../../lock/types.js';
import type { Logger } from '../../log.js';
import { HolderProber } from './prober.js';
import { leanList, leanWatch } from '../../kube/adapters.js';
import type { KubeApiClient } from '../../kube/client.js';
import { appStartedAt, cannotStart, planOf } from './probe-spec.js';
import { holderOfPod, isFinished, isReady } from '../../kube/pods.js';
import { podOf } from '../../holder.js';
import { Reflector, type ChangeType } from '../../kube/reflector.js';
import type { UnleasedCounter } from './unleased.js';

/** The part of the engine the watcher drives. */
export type ReleasingEngine = Pick<LockEngine, 'releaseHolder' | 'leaseOf' | 'listen'>;

export interface PodWatcherOptions {
  /** The lean API client (src/kube/client.ts): the server loads no @kubernetes/client-node. */
  api: KubeApiClient;
  nodeName: string;
  engine: ReleasingEngine;
  clock: Clock;
  log: Logger;
  /** Pause between two probes of a holder pod by the server itself; 0 leaves only the Ready condition. */
  readyProbeIntervalMs: number;
  /** Bound on each list request. */
  requestTimeoutMs?: number;
  /** Counts the start-ups without a lease (--count-unleased); null leaves them out. */
  unleased?: UnleasedCounter | null;
}

export class PodWatcher {
  private readonly reflector: Reflector<V1Pod>;
  private readonly prober: HolderProber | null;
  /** Leases already logged as running for their duration (their pod has no probe). */
  private readonly unprobed = new Set<LeaseId>();
  private running = false;

  constructor(private readonly options: PodWatcherOptions) {
    const { api, nodeName, clock, log } = options;
    const fieldSelector = `spec.nodeName=${nodeName}`;
    this.reflector = new Reflector<V1Pod>({
      watchApi: leanWatch(api),
      resource: 'pods',
      path: '/api/v1/pods',
      fieldSelector,
      list: leanList<V1Pod>(api, '/api/v1/pods', { fieldSelector }, options.requestTimeoutMs),
      // The node's pods are kept for as long as they run; nothing here reads managedFields.
      dropManagedFields: true,
      onChange: (type, pod) => this.judge(type, pod),
      onHealth: (error) => {
        if (error !== null) {
          options.unleased?.unseen();
          log.warn(
            { err: error.message, node: nodeName },
            'release-on-ready: cannot follow the pods on this node; leases run to their duration and start-ups without a lease are not counted meanwhile',
          );
        } else {
          log.info({ node: nodeName }, 'release-on-ready: following the pods on this node again');
          options.unleased?.resume(this.reflector.items());
        }
      },
      clock,
      log,
    });
    this.prober =
      options.readyProbeIntervalMs > 0
        ? new HolderProber({
            intervalMs: options.readyProbeIntervalMs,
            clock,
            log,
            passed: (holder, pod, detail) => this.release(holder, pod, 'probe', detail),
          })
        : null;
    // A pod may already be Ready (or gone) when its lease is granted, e.g. after a container restart.
    // Judged after the grant returns, so the engine is not re-entered while it is granting.
    options.engine.listen({
      granted: (lease) => queueMicrotask(() => this.judgeGrant(lease)),
      released: (lease) => {
        this.prober?.forget(lease.holder);
        this.unprobed.delete(lease.id);
      },
    });
  }

  start(): void {
    this.running = true;
    this.reflector.start();
  }

  stop(): void {
    this.running = false;
    this.prober?.stop();
    this.options.unleased?.stop();
    this.reflector.stop();
  }

  /** The UID of a pod on this node, from the watch (saves a GET when recording Events). */
  uidOf(namespace: string, name: string): string | undefined {
    return this.reflector.get(namespace, name)?.metadata?.uid;
  }

  private judgeGrant(lease: Lease): void {
    if (!this.running) return;
    const named = podOf(lease.holder);
    if (named === null) return;
    const pod = this.reflector.get(named.namespace, named.name);
    if (pod !== undefined) this.judge('MODIFIED', pod);
  }

  private judge(type: ChangeType, pod: V1Pod): void {
    if (!this.running) return;
    this.judgeHolder(type, pod);
    // After the holder's own verdict, so a lease released just now counts its start-up as covered.
    this.options.unleased?.judge(type, pod);
  }

  private judgeHolder(type: ChangeType, pod: V1Pod): void {
    const holder = holderOfPod(pod);
    const { engine, log } = this.options;
    const lease = engine.leaseOf(holder);
    // A lease taken by an earlier pod of the same name (a StatefulSet pod recreated) is not this one's.
    const uid = pod.metadata?.uid;
    if (lease?.uid && uid && lease.uid !== uid) return;
    if (type === 'DELETED' || isFinished(pod)) {
      this.prober?.forget(holder);
      if (engine.releaseHolder(holder, 'pod_gone')) {
        log.debug({ holder, lease: lease?.id, phase: pod.status?.phase }, 'holder pod gone');
      }
      return;
    }
    if (lease === undefined) return;
    const failure = cannotStart(pod);
    if (failure !== null) {
      const detail = `container ${failure.container} is ${failure.reason}${failure.message ? `: ${failure.message}` : ''}`;
      this.release(holder, pod, 'failed', detail);
      return;
    }
    const plan = planOf(pod);
    if (!plan.hasProbe) {
      if (!this.unprobed.has(lease.id)) {
        this.unprobed.add(lease.id);
        log.info(
          { holder, lease: lease.id, expiresAt: new Date(lease.expiresAt).toISOString() },
          'holder pod has no startup or readiness probe: its lease runs for the duration it asked for',
        );
      }
      return;
    }
    if (isReady(pod)) {
      this.release(holder, pod, 'ready', 'the pod is Ready');
      return;
    }
    this.prober?.follow(holder, pod, plan);
  }

  private release(holder: Holder, pod: V1Pod, reason: 'probe' | 'ready' | 'failed', detail: string): void {
    this.prober?.forget(holder);
    const startedAt = appStartedAt(pod);
    const note: ReleaseNote = startedAt === undefined ? { detail } : { detail, appStartedAt: startedAt };
    this.options.engine.releaseHolder(holder, reason, note);
  }
}
