// The vocabulary of the lock: who holds what, who waits, and why a request was turned away.

declare const leaseIdBrand: unique symbol;
/** Opaque, unguessable id of one grant. */
export type LeaseId = string & { readonly [leaseIdBrand]: true };

/** Who asks: `namespace/pod` for the lease API, an anonymous per-request name for the legacy API. */
export type Holder = string;

export type Api = 'legacy' | 'v1';

export interface Lease {
  id: LeaseId;
  holder: Holder;
  /** Pod UID when the client sent one, for Kubernetes Events. */
  uid: string | null;
  /**
   * The per-process secret the requesting client sent (`client=`), or null for a client that sends
   * none. Only a request carrying the same value gets this lease (and its id) back: a holder name is
   * public in /v1/status, this is not.
   */
  client: string | null;
  slot: number;
  api: Api;
  /** Epoch milliseconds. */
  grantedAt: number;
  expiresAt: number;
}

export type DenialReason =
  'locked' | 'checks_failing' | 'not_ready' | 'draining' | 'load' | 'queue_full' | 'timeout';

export type ReleaseReason = 'released' | 'expired' | 'probe' | 'ready' | 'failed' | 'pod_gone' | 'shutdown';

/** Why a lease ended early, as the edge that ended it knows it (for logs, Events and metrics). */
export interface ReleaseNote {
  /** One line for people: which probe passed, which container cannot start. */
  detail?: string;
  /** Epoch ms when the holder's app container started (the start-up the lease covered). */
  appStartedAt?: number;
}

export interface QueueEntry {
  holder: Holder;
  uid: string | null;
  /** Epoch ms when the holder first joined; kept across polls. */
  since: number;
  /** A long poll is open right now (only such waiters are granted). */
  connected: boolean;
}

/** A queue place as saved: who, since when, and until when it is kept without a poll. */
export interface SavedWaiter {
  holder: Holder;
  uid: string | null;
  since: number;
  client?: string | null;
  /**
   * Epoch ms when the place lapses unless the holder polls again: the end of its grace. A restart
   * restores what is left of it, not a fresh grace (absent in files written before 0.2: savedAt+grace).
   */
  graceUntil?: number;
}

/** Everything needed to rebuild the lock after a restart. */
export interface Snapshot {
  version: 1;
  savedAt: number;
  leases: Lease[];
  queue: SavedWaiter[];
}

/**
 * Why a start-up without a lease takes a slot: a pod without the client (`unmanaged`), or the app
 * container of a pod that held a lease here restarting after that lease ended (`restart`).
 */
export type UnleasedKind = 'restart' | 'unmanaged';

/**
 * A start-up the node's pod watcher sees that holds no lease: it takes a slot (grants wait while
 * held + unleased >= slots) but never a queue place or a lease.
 */
export interface UnleasedStart {
  /** `namespace/pod`. */
  pod: Holder;
  kind: UnleasedKind;
  /** Epoch ms when its app container started. */
  since: number;
  /** Epoch ms when it stops counting, started or not (since + --unleased-max). */
  bound: number;
}

/** Why an unleased start-up stopped counting. */
export type UnleasedEnd = 'started' | 'gone' | 'bound' | 'leased' | 'unseen';

/** What a restore left out, and why: the server logs each one. */
export interface Dropped {
  holder: Holder;
  kind: 'lease' | 'waiter';
  why: 'expired' | 'duplicate' | 'over_capacity' | 'queue_full' | 'grace_expired';
}

/** What the engine tells the edges (metrics, logs, state file, Kubernetes Events). */
export interface LockListener {
  /** `heldBack`: the most unleased start-ups that held back this waiter's grant while it was first in line. */
  granted?(lease: Lease, waitedMs: number, heldBack?: number): void;
  released?(lease: Lease, reason: ReleaseReason, heldMs: number, note?: ReleaseNote): void;
  extended?(lease: Lease): void;
  queued?(entry: QueueEntry, position: number): void;
  /** A waiter left the queue without a grant (hung up, grace over, pod gone). */
  left?(entry: QueueEntry, why: 'hung_up' | 'grace_expired' | 'pod_gone'): void;
  /** An unleased start-up began to take a slot. */
  unleasedBegan?(start: UnleasedStart): void;
  unleasedEnded?(start: UnleasedStart, why: UnleasedEnd, countedMs: number): void;
  /** Anything in leases or queue order changed (the state file listens). */
  changed?(): void;
}
