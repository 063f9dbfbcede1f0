// --events: grants, releases and expiries recorded as core/v1 Events on the holder pod, so
// `kubectl describe pod` shows why it waited and for how long. Fire-and-forget: the lock never waits for
// the API; a bounded number of requests run at once and a bounded backlog is kept (the oldest dropped).
// A 403 is logged once, naming the permission, and Events pause for a while instead of failing each time.
import { randomBytes } from 'node:crypto';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../clock.js';
import { podHolder, podOf } from '../../holder.js';
import type { Lease, ReleaseReason } from '../../lock/types.js';
import type { LockEngine } from '../../lock/engine.js';
import type { Logger } from '../../log.js';
import { seconds } from '../../seconds.js';
import { AccessDeniedError, classifyApiError } from '../../kube/api-error.js';

export const EVENT_SOURCE = 'startup-lock';
export const REPORTING_CONTROLLER = 'startup-lock.io/server';

export type EventReason = 'StartupLockGranted' | 'StartupLockReleased' | 'StartupLockExpired';

/**
 * The two calls the recorder makes, each bounded in time by whoever provides them (`leanEventsApi` in
 * src/kube/adapters.ts; client-node's CoreV1Api has the same shape).
 */
export interface EventsApi {
  createNamespacedEvent(request: { namespace: string; body: CoreV1Event }): Promise<unknown>;
  readNamespacedPod(request: { namespace: string; name: string }): Promise<V1Pod>;
}

export interface EventRecorderOptions {
  api: EventsApi;
  /** Reported as the event's source host and reporting instance. */
  nodeName: string;
  clock: Clock;
  log: Logger;
  /** The holder pod's UID when something already knows it (the pod watcher); else it is looked up. */
  uidOf?: (namespace: string, name: string) => string | undefined;
  concurrency?: number;
  maxBacklog?: number;
  /** How long Events stay off after a 403. */
  forbiddenPauseMs?: number;
}

interface PendingEvent {
  namespace: string;
  pod: string;
  uid: string | null;
  reason: EventReason;
  message: string;
  at: number;
}

const RELEASED_BECAUSE: Record<Exclude<ReleaseReason, 'expired'>, string> = {
  released: 'the client released it',
  probe: "the pod's own probes pass",
  ready: 'the pod is Ready',
  failed: 'an app container cannot start',
  pod_gone: 'the pod was deleted, failed or completed',
  shutdown: 'the lock server shut down',
};

/** `1.2s` in an Event message. */
const inSeconds = (ms: number) => `${seconds(ms).toFixed(1)}s`;

export class EventRecorder {
  private readonly backlog: PendingEvent[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private pausedUntil = 0;
  private forbiddenLogged = false;
  private failing = false;
  private closed = false;

  constructor(private readonly options: EventRecorderOptions) {}

  /** Listen to the engine's grants and releases. */
  attach(engine: Pick<LockEngine, 'listen'>): void {
    engine.listen({
      granted: (lease, waitedMs, heldBack) => {
        const held = lease.expiresAt - lease.grantedAt;
        // Why a pod first in line still waited: the node was busy with pods starting without a lease.
        const busy = heldBack
          ? ` (the node was busy with ${heldBack} start-up${heldBack === 1 ? '' : 's'} without a lease: pods without the client or restarted containers)`
          : '';
        this.record(
          lease,
          'StartupLockGranted',
          `Start-up slot ${lease.slot} on node ${this.options.nodeName} granted after waiting ${inSeconds(waitedMs)}${busy}; held for at most ${inSeconds(held)}`,
        );
      },
      released: (lease, reason, heldMs, note) => {
        if (reason === 'expired') {
          this.record(
            lease,
            'StartupLockExpired',
            `Start-up slot ${lease.slot} expired after ${inSeconds(heldMs)}: its duration ran out before it was released`,
          );
        } else {
          this.record(
            lease,
            'StartupLockReleased',
            `Start-up slot ${lease.slot} released after ${inSeconds(heldMs)}: ${RELEASED_BECAUSE[reason]}${note?.detail && reason !== 'ready' ? ` (${note.detail})` : ''}`,
          );
        }
      },
    });
  }

  /** Queue an Event for the lease's holder pod; holders that are not `namespace/pod` get none. */
  record(lease: Lease, reason: EventReason, message: string): void {
    if (this.closed || lease.api === 'legacy') return;
    const named = podOf(lease.holder);
    if (named === null) return;
    const { namespace, name: pod } = named;
    const now = this.options.clock.now();
    if (now < this.pausedUntil) {
      this.options.log.debug({ holder: lease.holder, reason }, 'events: paused after a 403; not recorded');
      return;
    }
    this.backlog.push({ namespace, pod, uid: lease.uid, reason, message, at: now });
    if (this.backlog.length > (this.options.maxBacklog ?? 1000)) this.backlog.shift();
    this.pump();
  }

  /** Stop taking Events; give those already under way a moment (at most `graceMs`) to finish. */
  async close(graceMs = 2000): Promise<void> {
    this.closed = true;
    this.backlog.length = 0;
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), grace]);
    clearTimeout(timer);
  }

  private pump(): void {
    while (this.inFlight.size < (this.options.concurrency ?? 4) && this.backlog.length > 0) {
      const next = this.backlog.shift() as PendingEvent;
      const sending: Promise<void> = this.send(next).finally(() => {
        this.inFlight.delete(sending);
        this.pump();
      });
      this.inFlight.add(sending);
    }
  }

  private async send(e: PendingEvent): Promise<void> {
    const { clock, log, nodeName } = this.options;
    if (clock.now() < this.pausedUntil) return;
    const uid = e.uid ?? this.options.uidOf?.(e.namespace, e.pod) ?? (await this.lookUpUid(e));
    const at = new Date(e.at);
    const body: CoreV1Event = {
      // Object names stop at 253 characters; the suffix keeps names unique, so the pod part gives way.
      metadata: { name: `${e.pod.slice(0, 230)}.${eventSuffix(e.at)}`, namespace: e.namespace },
      involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: e.namespace, name: e.pod, uid },
      reason: e.reason,
      message: e.message,
      type: 'Normal',
      source: { component: EVENT_SOURCE, host: nodeName },
      reportingComponent: REPORTING_CONTROLLER,
      reportingInstance: nodeName,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
    try {
      await this.options.api.createNamespacedEvent({ namespace: e.namespace, body });
      if (this.failing) {
        this.failing = false;
        log.info('events: recording Kubernetes Events again');
      }
    } catch (err) {
      const error = classifyApiError(err, { verb: 'create', resource: 'events', namespace: e.namespace });
      if (error instanceof AccessDeniedError) {
        this.pausedUntil = clock.now() + (this.options.forbiddenPauseMs ?? 5 * 60_000);
        if (!this.forbiddenLogged) {
          this.forbiddenLogged = true;
          log.warn(
            { err: error.message },
            'events: not allowed to create Events (grant "create" and "patch" on events); the lock works without them',
          );
        }
      } else if (!this.failing) {
        this.failing = true;
        log.warn(
          { err: error.message, holder: podHolder(e.namespace, e.pod) },
          'events: cannot record an Event',
        );
      }
    }
  }

  /** kubectl describe finds Events by the pod's UID; without one from the client, ask the API. */
  private async lookUpUid(e: PendingEvent): Promise<string | undefined> {
    try {
      const pod = await this.options.api.readNamespacedPod({ namespace: e.namespace, name: e.pod });
      return pod.metadata?.uid;
    } catch (err) {
      this.options.log.debug(
        { err: (err as Error).message, holder: podHolder(e.namespace, e.pod) },
        'events: pod UID unknown; recording the Event without it',
      );
      return undefined;
    }
  }
}

/** Unique, time-ordered name suffix, as client-go names its Events (`pod.<hex>`). */
function eventSuffix(at: number): string {
  return `${at.toString(16)}${randomBytes(3).toString('hex')}`;
}
