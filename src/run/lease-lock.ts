// A lock on coordination.k8s.io/v1 Lease objects, N holders at once (one Lease each). Every write is a
// full replace carrying the resourceVersion we read, so two contenders can never both win: the loser
// gets 409 Conflict and tries the next Lease or the next round. A Lease is free when it has no holder
// or its holder stopped renewing it (renewTime + leaseDurationSeconds is in the past).
//
// Naming: --holders 1 uses the Lease NAME itself; --holders N uses NAME-0 … NAME-(N-1).
import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { Clock } from '../clock.js';
import { classifyApiError, statusOf, type ApiCall, type ApiVerb } from '../kube/api-error.js';

export const LEASE_RESOURCE = 'leases.coordination.k8s.io';
/** Set on a Lease when a --once command succeeded: the RFC 3339 time it finished. */
export const COMPLETED_ANNOTATION = 'startup-lock.io/completed';
/** Set with COMPLETED_ANNOTATION: the holder identity that ran the command. */
export const COMPLETED_BY_ANNOTATION = 'startup-lock.io/completed-by';
/** Label on the Leases we create: the lock name, so `kubectl get lease -l` finds every holder slot. */
export const LOCK_LABEL = 'startup-lock.io/lock';

/** The calls of CoordinationV1Api the lock needs (the real client satisfies it). */
export interface LeaseApi {
  readNamespacedLease(param: { name: string; namespace: string }): Promise<V1Lease>;
  createNamespacedLease(param: { namespace: string; body: V1Lease }): Promise<V1Lease>;
  replaceNamespacedLease(param: { name: string; namespace: string; body: V1Lease }): Promise<V1Lease>;
}

export interface LeaseLockOptions {
  api: LeaseApi;
  namespace: string;
  /** Lock name; see leaseNames() for the Lease objects it maps to. */
  name: string;
  holders: number;
  identity: string;
  leaseDurationMs: number;
  clock: Clock;
}

export interface Completion {
  at: string;
  by: string;
}

/** Who holds a Lease we could not take, and when it expires unless renewed. */
export interface BusyLease {
  name: string;
  holder: string;
  expiresAt: number;
}

export type AcquireResult =
  | { kind: 'acquired'; name: string }
  | { kind: 'busy'; leases: BusyLease[] }
  /** The --once marker is on the Lease: someone already ran the command successfully. */
  | { kind: 'completed'; completion: Completion };

/** The Lease is no longer ours: another holder took it over, or it was deleted. */
export class LeaseLostError extends Error {
  constructor(
    readonly lease: string,
    readonly holder: string | undefined,
  ) {
    super(
      holder
        ? `lease ${lease} is now held by "${holder}"`
        : `lease ${lease} was released or deleted by someone else`,
    );
    this.name = 'LeaseLostError';
  }
}

export function leaseNames(name: string, holders: number): string[] {
  if (holders <= 1) return [name];
  return Array.from({ length: holders }, (_, i) => `${name}-${i}`);
}

/** Lease times arrive as strings (client-node does not revive MicroTime) or Dates. */
function timeOf(value: Date | string | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

export function completionOf(lease: V1Lease | undefined): Completion | undefined {
  const at = lease?.metadata?.annotations?.[COMPLETED_ANNOTATION];
  if (at === undefined) return undefined;
  return { at, by: lease?.metadata?.annotations?.[COMPLETED_BY_ANNOTATION] ?? 'unknown' };
}

export class LeaseLock {
  readonly names: readonly string[];
  private held?: { name: string; lease: V1Lease };

  constructor(private readonly options: LeaseLockOptions) {
    this.names = leaseNames(options.name, options.holders);
  }

  /** The Lease we hold, if any. */
  get heldLease(): string | undefined {
    return this.held?.name;
  }

  /**
   * One pass over the Leases: take the first that is free, expired or already ours. With `once`, a
   * completion marker ends the pass (the caller skips the command).
   * Throws AccessDeniedError (401/403) or ApiCallError (retry later).
   */
  async tryAcquire(once = false): Promise<AcquireResult> {
    const busy: BusyLease[] = [];
    for (const name of this.names) {
      const lease = await this.read(name);
      if (lease === undefined) {
        const created = await this.call('create', name, () =>
          this.options.api.createNamespacedLease({
            namespace: this.options.namespace,
            body: this.fresh(name),
          }),
        );
        if (created === 'conflict' || created === 'not-found') continue; // another contender created it first
        this.held = { name, lease: created };
        return { kind: 'acquired', name };
      }
      const completion = completionOf(lease);
      if (once && completion !== undefined) return { kind: 'completed', completion };
      const holder = lease.spec?.holderIdentity ?? '';
      const expiresAt = this.expiryOf(lease);
      if (holder !== '' && holder !== this.options.identity && expiresAt > this.options.clock.now()) {
        busy.push({ name, holder, expiresAt });
        continue;
      }
      const now = new V1MicroTime(this.options.clock.now());
      const ours = holder === this.options.identity;
      const body: V1Lease = {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: this.options.identity,
          leaseDurationSeconds: this.durationSeconds(),
          acquireTime: ours && lease.spec?.acquireTime ? lease.spec.acquireTime : now,
          renewTime: now,
          leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (ours ? 0 : 1),
        },
      };
      const updated = await this.call('update', name, () =>
        this.options.api.replaceNamespacedLease({ name, namespace: this.options.namespace, body }),
      );
      // Someone else wrote (or deleted) it since we read it: they won this one.
      if (updated === 'conflict' || updated === 'not-found') continue;
      this.held = { name, lease: updated };
      return { kind: 'acquired', name };
    }
    return { kind: 'busy', leases: busy };
  }

  /** Extend the Lease we hold. Throws LeaseLostError when it is no longer ours. */
  async renew(): Promise<void> {
    await this.rewrite((lease) => ({
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: this.options.identity,
        leaseDurationSeconds: this.durationSeconds(),
        renewTime: new V1MicroTime(this.options.clock.now()),
      },
    }));
  }

  /** Record that the command succeeded (--once), while we still hold the Lease. */
  async markCompleted(): Promise<void> {
    const at = new Date(this.options.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    await this.rewrite((lease) => ({
      ...lease,
      metadata: {
        ...lease.metadata,
        annotations: {
          ...lease.metadata?.annotations,
          [COMPLETED_ANNOTATION]: at,
          [COMPLETED_BY_ANNOTATION]: this.options.identity,
        },
      },
    }));
  }

  /**
   * Give the Lease up so the next waiter proceeds at once: clear the holder (the watchers see it).
   * A Lease that is no longer ours is left alone.
   */
  async release(): Promise<void> {
    if (this.held === undefined) return;
    try {
      await this.rewrite((lease) => ({
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: undefined,
          renewTime: new V1MicroTime(this.options.clock.now()),
        },
      }));
    } catch (err) {
      if (!(err instanceof LeaseLostError)) throw err;
    } finally {
      this.held = undefined;
    }
  }

  /** Forget the Lease without writing (it was lost). */
  forget(): void {
    this.held = undefined;
  }

  /**
   * Replace our Lease with change(current). On 409 someone else wrote it: re-read, and if it is still
   * ours (an annotation added by kubectl, say) apply the change again; otherwise it is lost.
   */
  private async rewrite(change: (lease: V1Lease) => V1Lease): Promise<void> {
    const held = this.held;
    if (held === undefined) throw new Error('no lease held');
    let current = held.lease;
    for (let attempt = 0; attempt < 3; attempt++) {
      const updated = await this.replace(held.name, change(current));
      if (updated !== 'conflict') {
        held.lease = updated;
        return;
      }
      const fresh = await this.read(held.name);
      const holder = fresh?.spec?.holderIdentity;
      if (fresh === undefined || holder !== this.options.identity) {
        this.held = undefined;
        throw new LeaseLostError(held.name, holder);
      }
      current = fresh;
    }
    throw classifyApiError(new Error('the Lease kept changing under us (3 conflicts in a row)'), {
      verb: 'update',
      resource: LEASE_RESOURCE,
      namespace: this.options.namespace,
      name: held.name,
    });
  }

  private async read(name: string): Promise<V1Lease | undefined> {
    const result = await this.call('get', name, () =>
      this.options.api.readNamespacedLease({ name, namespace: this.options.namespace }),
    );
    return result === 'conflict' || result === 'not-found' ? undefined : result;
  }

  private async replace(name: string, body: V1Lease): Promise<V1Lease | 'conflict'> {
    const result = await this.call('update', name, () =>
      this.options.api.replaceNamespacedLease({ name, namespace: this.options.namespace, body }),
    );
    if (result === 'not-found') throw new LeaseLostError(name, undefined);
    return result;
  }

  /** Run one API call; 409 and 404 are answers, anything else is a typed error. */
  private async call<T>(
    verb: ApiVerb,
    name: string,
    fn: () => Promise<T>,
  ): Promise<T | 'conflict' | 'not-found'> {
    try {
      return await fn();
    } catch (err) {
      const status = statusOf(err);
      if (status === 409) return 'conflict';
      if (status === 404 && verb !== 'create') return 'not-found';
      const call: ApiCall = { verb, resource: LEASE_RESOURCE, namespace: this.options.namespace, name };
      throw classifyApiError(err, call);
    }
  }

  private fresh(name: string): V1Lease {
    const now = new V1MicroTime(this.options.clock.now());
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: this.options.namespace, labels: { [LOCK_LABEL]: this.options.name } },
      spec: {
        holderIdentity: this.options.identity,
        leaseDurationSeconds: this.durationSeconds(),
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      },
    };
  }

  private durationSeconds(): number {
    return Math.max(1, Math.ceil(this.options.leaseDurationMs / 1000));
  }

  /** When a held Lease runs out: its last renewal plus its own duration (the holder's setting wins). */
  private expiryOf(lease: V1Lease): number {
    const renewed = timeOf(lease.spec?.renewTime) ?? timeOf(lease.spec?.acquireTime);
    if (renewed === undefined) return 0;
    const seconds = lease.spec?.leaseDurationSeconds ?? this.durationSeconds();
    return renewed + seconds * 1000;
  }
}
