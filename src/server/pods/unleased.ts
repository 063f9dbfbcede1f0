// Every start-up on the node counts: fed every pod change by the pod watcher, this finds the app
// containers that (re)started and are not yet past their startup/readiness probe in pods that hold no
// lease (pods without the client, restarts after a lease ended) and tells the engine, which lets each
// take a slot until it is started, gone, or --unleased-max after its container started. Which pods
// count is pure (startingSince); the class keeps what the judging needs to remember.
import type { V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../clock.js';
import type { LockEngine } from '../../lock/engine.js';
import type { Holder, Lease } from '../../lock/types.js';
import type { Logger } from '../../log.js';
import { holderOf, isFinished } from '../../kube/pods.js';
import type { ChangeType } from '../../kube/reflector.js';
import { HolderProber } from './prober.js';
import { planOf } from './probe-spec.js';

export interface UnleasedRules {
  /** How long after its container started an unleased start-up stops counting, started or not. */
  maxMs: number;
  excludeNamespaces: readonly string[];
  /** `label:value` pairs; a pod carrying any of them is left out. */
  excludeLabels: readonly string[];
  /** Count pods owned by a DaemonSet. */
  daemonSets: boolean;
  /** `namespace/pod` of the server's own pod, which never counts (empty when unknown). */
  self: Holder;
}

/** Why a pod is never counted, or null when it may be. */
export function leftOut(pod: V1Pod, rules: UnleasedRules): string | null {
  const namespace = pod.metadata?.namespace ?? '';
  if (holderOf(pod) === rules.self) return 'the server itself';
  if (rules.excludeNamespaces.includes(namespace)) return `namespace ${namespace}`;
  const labels = pod.metadata?.labels ?? {};
  for (const pair of rules.excludeLabels) {
    const i = pair.indexOf(':');
    if (labels[pair.slice(0, i)] === pair.slice(i + 1)) return `label ${pair}`;
  }
  if (!rules.daemonSets && (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet'))
    return 'a DaemonSet pod';
  return null;
}

/**
 * When the latest app container start that is not yet past its probe began (epoch ms), by the kubelet's
 * status: running, not ready, and (with a startup probe) not started, less than `maxMs` ago. Null when
 * the pod is left out, finished, or none is starting. A container without probes is ready as soon as it
 * runs, so it never counts: nothing would say when its start-up ends.
 */
export function startingSince(pod: V1Pod, rules: UnleasedRules, now: number): number | null {
  if (isFinished(pod) || leftOut(pod, rules) !== null) return null;
  const statuses = pod.status?.containerStatuses ?? [];
  let since: number | null = null;
  for (const c of pod.spec?.containers ?? []) {
    const s = statuses.find((x) => x.name === c.name);
    const startedAt = s?.state?.running?.startedAt;
    if (!s || startedAt == null) continue;
    const at = new Date(startedAt).getTime();
    if (!Number.isFinite(at) || now >= at + rules.maxMs) continue;
    if (s.ready === true || (c.startupProbe != null && s.started === true)) continue;
    since = Math.max(since ?? at, at);
  }
  return since;
}

export type UnleasedEngine = Pick<LockEngine, 'countUnleased' | 'endUnleased' | 'listen'>;

export interface UnleasedCounterOptions {
  rules: UnleasedRules;
  engine: UnleasedEngine;
  clock: Clock;
  log: Logger;
  /** Pause between the server's own probes of a counted pod; 0 leaves only the kubelet's word. */
  probeIntervalMs: number;
}

/** How many pods that held a lease are remembered (restarts of older ones count as `unmanaged`). */
const MAX_REMEMBERED = 10_000;

export class UnleasedCounter {
  /** Pods that held a lease here, with when it ended (Infinity while held). */
  private readonly holders = new Map<Holder, { uid: string | null; endedAt: number }>();
  /** Counted pods: the container start each one is counted for. */
  private readonly counted = new Map<Holder, number>();
  /** Pods whose own probe passed, for the container start it passed for. */
  private readonly probed = new Map<Holder, number>();
  private readonly prober: HolderProber | null;
  private seeing = true;

  constructor(private readonly options: UnleasedCounterOptions) {
    const { engine, clock, log, probeIntervalMs } = options;
    this.prober =
      probeIntervalMs > 0
        ? new HolderProber({
            intervalMs: probeIntervalMs,
            clock,
            log,
            passed: (pod) => {
              const since = this.counted.get(pod);
              if (since !== undefined) this.probed.set(pod, since);
              engine.endUnleased(pod, 'started');
            },
          })
        : null;
    engine.listen({
      granted: (lease) => this.remember(lease, Infinity),
      // Also for a lease restored from the state file, which this process never saw granted.
      released: (lease) => this.remember(lease, clock.now()),
      unleasedEnded: (start) => this.forget(start.pod),
    });
  }

  /** A pod on the node changed (from the watch, or a fresh list). */
  judge(type: ChangeType, pod: V1Pod): void {
    if (!this.seeing) return;
    const key = holderOf(pod);
    const { engine, rules, clock } = this.options;
    const uid = pod.metadata?.uid ?? null;
    const held = this.holders.get(key);
    // A pod recreated under the name of one that held a lease (a StatefulSet pod) is a new pod.
    if (held?.uid && uid && held.uid !== uid) this.holders.delete(key);
    if (type === 'DELETED' || isFinished(pod)) {
      this.holders.delete(key);
      this.probed.delete(key);
      engine.endUnleased(key, 'gone');
      return;
    }
    const since = startingSince(pod, rules, clock.now());
    const holder = this.holders.get(key);
    // The start a lease covered (and the one the server's own probe passed) is not counted again.
    if (since === null || (holder && since <= holder.endedAt) || this.probed.get(key) === since) {
      engine.endUnleased(key, 'started');
      return;
    }
    const kind = holder ? 'restart' : 'unmanaged';
    if (!engine.countUnleased({ pod: key, kind, since, bound: since + rules.maxMs })) return;
    this.counted.set(key, since);
    this.prober?.follow(key, pod, planOf(pod));
  }

  /**
   * The watch is broken: what cannot be seen is not counted (the lock counts leases only, as without
   * this feature) until resume() hands over a fresh list.
   */
  unseen(): void {
    this.seeing = false;
    for (const pod of [...this.counted.keys()]) this.options.engine.endUnleased(pod, 'unseen');
  }

  resume(pods: V1Pod[]): void {
    this.seeing = true;
    for (const pod of pods) this.judge('MODIFIED', pod);
  }

  stop(): void {
    this.seeing = false;
    this.prober?.stop();
  }

  /** A pod that holds a lease (endedAt Infinity) or held one until endedAt; the oldest are dropped. */
  private remember(lease: Lease, endedAt: number): void {
    if (lease.api !== 'v1') return;
    this.holders.delete(lease.holder);
    this.holders.set(lease.holder, { uid: lease.uid, endedAt });
    if (this.holders.size > MAX_REMEMBERED) this.holders.delete(this.holders.keys().next().value as Holder);
  }

  private forget(pod: Holder): void {
    this.counted.delete(pod);
    this.prober?.forget(pod);
  }
}
