// The lock engine: N slots, a strict FIFO queue and leases that expire. Pure logic: time comes from an
// injected Clock, nothing here knows about HTTP, metrics or Kubernetes. The edges call in and listen.
// Start-ups the pod watcher sees without a lease (unleased) take slots too, each until its bound.
import type { Clock, TimerHandle } from '../clock.js';
import type {
  Api,
  DenialReason,
  Dropped,
  Holder,
  Lease,
  LeaseId,
  LockListener,
  QueueEntry,
  ReleaseNote,
  ReleaseReason,
  Snapshot,
  UnleasedEnd,
  UnleasedStart,
} from './types.js';

export interface EngineOptions {
  slots: number;
  maxQueue: number;
  /** How long a waiter keeps its place after a poll ends without a grant. */
  queueGraceMs: number;
  clock: Clock;
  newId: () => string;
  /** Why nothing may be granted right now (checks down, draining…), or null. Asked at each grant. */
  gate?: () => DenialReason | null;
}

/** A long poll attached to a queue place. */
export interface Poll {
  /** The open connection is still there; a slot is never granted to a closed one. */
  alive(): boolean;
  granted(lease: Lease): void;
  /** A newer poll from the same holder took this one's place; answer it without a grant. */
  superseded(): void;
}

export type AcquireResult =
  | { kind: 'granted'; lease: Lease }
  | { kind: 'denied'; reason: DenialReason }
  | { kind: 'queued'; position: number; queueLength: number }
  /** The holder's lease or queue place belongs to another client (see Lease.client). */
  | { kind: 'taken' };

interface Waiter extends QueueEntry {
  client: string | null;
  durationMs: number;
  poll: Poll | null;
  graceTimer: TimerHandle | null;
  /** While between polls: when the place lapses. */
  graceUntil: number | null;
  /** The most unleased start-ups that kept a free slot from this waiter while it was first in line. */
  heldBack: number;
}

interface Held {
  lease: Lease;
  timer: TimerHandle;
}

export class LockEngine {
  private readonly held = new Map<LeaseId, Held>();
  private readonly byHolder = new Map<Holder, LeaseId>();
  private readonly queue: Waiter[] = [];
  private readonly waiting = new Map<Holder, Waiter>();
  private readonly unleased = new Map<Holder, { start: UnleasedStart; timer: TimerHandle }>();
  private readonly listeners: LockListener[] = [];
  private slots: number;

  constructor(private readonly opts: EngineOptions) {
    this.slots = opts.slots;
  }

  listen(listener: LockListener): void {
    this.listeners.push(listener);
  }

  get slotCount(): number {
    return this.slots;
  }

  /**
   * The legacy API: a slot now or nothing. It never jumps the queue. Each legacy request is its own
   * anonymous holder, so a name already in use is a collision (a restored lease, a /v1 holder), never
   * a retry: it is turned away rather than handed a lease someone else holds.
   */
  tryAcquire(holder: Holder, durationMs: number, api: Api = 'legacy'): AcquireResult {
    if (this.byHolder.has(holder) || this.waiting.has(holder)) return { kind: 'denied', reason: 'locked' };
    const blocked = this.blocked();
    if (blocked) return { kind: 'denied', reason: blocked };
    if (this.queue.length > 0 || this.busy() >= this.slots) return { kind: 'denied', reason: 'locked' };
    const lease = this.grant(holder, null, null, durationMs, api, this.opts.clock.now(), 0);
    return { kind: 'granted', lease };
  }

  /**
   * The lease API: take a slot, or join (or rejoin) the FIFO queue. With a poll, the waiter is granted
   * the moment its turn comes while the poll is open; call endPoll() or hangUp() when it closes.
   * `client` is the requester's own secret: a lease or place made with one is only ever handed to, or
   * touched by, requests that carry the same value (null matches only null, for old clients).
   */
  acquire(
    holder: Holder,
    uid: string | null,
    durationMs: number,
    poll: Poll | null,
    client: string | null = null,
  ): AcquireResult {
    const existing = this.leaseOf(holder);
    if (existing)
      return existing.client === client ? { kind: 'granted', lease: existing } : { kind: 'taken' };

    let waiter = this.waiting.get(holder);
    if (waiter && waiter.client !== client) return { kind: 'taken' };
    if (!waiter) {
      if (this.queue.length >= this.opts.maxQueue) return { kind: 'denied', reason: 'queue_full' };
      waiter = {
        holder,
        uid,
        client,
        since: this.opts.clock.now(),
        connected: false,
        durationMs,
        poll: null,
        graceTimer: null,
        graceUntil: null,
        heldBack: 0,
      };
      this.queue.push(waiter);
      this.waiting.set(holder, waiter);
      this.emit((l) => l.queued?.(waiter!, this.queue.length));
      this.emit((l) => l.changed?.());
    }
    waiter.durationMs = durationMs;
    waiter.uid = uid ?? waiter.uid;
    waiter.graceTimer?.cancel();
    waiter.graceTimer = null;
    waiter.graceUntil = null;
    // A newer poll from the same holder replaces an older one that is still open.
    const older = waiter.poll;
    waiter.poll = poll;
    if (older && older !== poll) older.superseded();
    waiter.connected = poll !== null;

    const lease = this.pumpFor(holder);
    if (lease) return { kind: 'granted', lease };
    const position = this.queue.indexOf(waiter) + 1;
    if (!poll) this.keepPlace(waiter);
    return { kind: 'queued', position, queueLength: this.queue.length };
  }

  /** The poll ended without a grant (its wait ran out): the place is kept for the grace period. */
  endPoll(holder: Holder, poll: Poll): void {
    const waiter = this.waiting.get(holder);
    if (!waiter || waiter.poll !== poll) return;
    waiter.poll = null;
    waiter.connected = false;
    this.keepPlace(waiter);
  }

  /** The client hung up: it leaves the queue at once. */
  hangUp(holder: Holder, poll: Poll): void {
    const waiter = this.waiting.get(holder);
    if (!waiter || waiter.poll !== poll) return;
    this.removeWaiter(waiter, 'hung_up');
  }

  release(id: LeaseId, reason: ReleaseReason = 'released', note?: ReleaseNote): boolean {
    const held = this.held.get(id);
    if (!held) return false;
    held.timer.cancel();
    this.held.delete(id);
    this.byHolder.delete(held.lease.holder);
    const heldMs = this.opts.clock.now() - held.lease.grantedAt;
    this.emit((l) => l.released?.(held.lease, reason, heldMs, note));
    this.emit((l) => l.changed?.());
    this.pump();
    return true;
  }

  /**
   * Release whatever `holder` holds (its pod passed its probes, is Ready, cannot start, or is gone); a
   * pod that is gone also leaves the queue.
   */
  releaseHolder(
    holder: Holder,
    reason: 'probe' | 'ready' | 'failed' | 'pod_gone',
    note?: ReleaseNote,
  ): boolean {
    const waiter = this.waiting.get(holder);
    if (waiter && reason === 'pod_gone') this.removeWaiter(waiter, 'pod_gone');
    const id = this.byHolder.get(holder);
    return id !== undefined && this.release(id, reason, note);
  }

  extend(id: LeaseId, durationMs: number): Lease | null {
    const held = this.held.get(id);
    if (!held) return null;
    held.timer.cancel();
    held.lease.expiresAt = this.opts.clock.now() + durationMs;
    held.timer = this.expireAt(held.lease);
    this.emit((l) => l.extended?.(held.lease));
    this.emit((l) => l.changed?.());
    return held.lease;
  }

  /**
   * A start-up without a lease began (or changed): it takes a slot until endUnleased() or its bound.
   * A pod that holds a lease or waits for one is the lock's own business and is not counted; nor is a
   * start-up already past its bound. Returns whether it counts.
   */
  countUnleased(start: UnleasedStart): boolean {
    const now = this.opts.clock.now();
    if (this.byHolder.has(start.pod) || this.waiting.has(start.pod) || start.bound <= now) {
      this.endUnleased(start.pod, start.bound <= now ? 'bound' : 'leased');
      return false;
    }
    const current = this.unleased.get(start.pod);
    if (current && current.start.since === start.since && current.start.kind === start.kind) return true;
    if (current) this.endUnleased(start.pod, 'started', false);
    const entry = { start: { ...start }, timer: this.endAtBound(start) };
    this.unleased.set(start.pod, entry);
    this.emit((l) => l.unleasedBegan?.(entry.start));
    return true;
  }

  /** An unleased start-up is over (its app started or is ready, its pod is gone, or it cannot be seen). */
  endUnleased(pod: Holder, why: UnleasedEnd, pump = true): boolean {
    const entry = this.unleased.get(pod);
    if (!entry) return false;
    entry.timer.cancel();
    this.unleased.delete(pod);
    const countedMs = this.opts.clock.now() - entry.start.since;
    this.emit((l) => l.unleasedEnded?.(entry.start, why, countedMs));
    if (pump) this.pump();
    return true;
  }

  /** Unleased start-ups taking slots now, oldest first. */
  unleasedStarts(): UnleasedStart[] {
    return [...this.unleased.values()].map((e) => ({ ...e.start })).sort((a, b) => a.since - b.since);
  }

  get unleasedCount(): number {
    return this.unleased.size;
  }

  /** Change the number of slots (capacity from CPU count, or a config reload). */
  resize(slots: number): void {
    this.slots = slots;
    this.pump();
  }

  /** Something the gate depends on changed (a check came up, load dropped): grant what can be. */
  reconsider(): void {
    this.pump();
  }

  get(id: string): Lease | undefined {
    return this.held.get(id as LeaseId)?.lease;
  }

  leaseOf(holder: Holder): Lease | undefined {
    const id = this.byHolder.get(holder);
    return id === undefined ? undefined : this.held.get(id)?.lease;
  }

  leases(): Lease[] {
    return [...this.held.values()].map((h) => h.lease).sort((a, b) => a.slot - b.slot);
  }

  waiters(): QueueEntry[] {
    return this.queue.map(({ holder, uid, since, connected }) => ({ holder, uid, since, connected }));
  }

  position(holder: Holder): number {
    const waiter = this.waiting.get(holder);
    return waiter ? this.queue.indexOf(waiter) + 1 : 0;
  }

  get queueLength(): number {
    return this.queue.length;
  }

  get activeCount(): number {
    return this.held.size;
  }

  snapshot(): Snapshot {
    const now = this.opts.clock.now();
    return {
      version: 1,
      savedAt: now,
      leases: this.leases().map((l) => ({ ...l })),
      // A waiter polling right now loses its poll with the process: from then on it has one grace.
      queue: this.queue.map(({ holder, uid, client, since, graceUntil }) => ({
        holder,
        uid,
        client,
        since,
        graceUntil: graceUntil ?? now + this.opts.queueGraceMs,
      })),
    };
  }

  /**
   * Rebuild leases and queue order after a restart, within this process's limits: the oldest `slots`
   * live leases are kept (a lowered --locks ends the newest extra ones), then the first `maxQueue`
   * waiters, each with what was left of its grace (a waiter whose pod went away while the server was
   * down must not reserve the head of the queue again). What is left out is returned, with why.
   */
  restore(snapshot: Snapshot): { leases: number; queued: number; dropped: Dropped[] } {
    const now = this.opts.clock.now();
    const dropped: Dropped[] = [];
    const leases = [...snapshot.leases].sort((a, b) => a.grantedAt - b.grantedAt);
    for (const saved of leases) {
      const drop = (why: Dropped['why']) => dropped.push({ holder: saved.holder, kind: 'lease', why });
      if (saved.expiresAt <= now) drop('expired');
      else if (this.byHolder.has(saved.holder) || this.held.has(saved.id)) drop('duplicate');
      else if (this.held.size >= this.slots) drop('over_capacity');
      else {
        const lease: Lease = { ...saved, client: saved.client ?? null };
        if (lease.slot >= this.slots || this.slotTaken(lease.slot)) lease.slot = this.freeSlot();
        this.held.set(lease.id, { lease, timer: this.expireAt(lease) });
        this.byHolder.set(lease.holder, lease.id);
      }
    }
    for (const saved of snapshot.queue) {
      const drop = (why: Dropped['why']) => dropped.push({ holder: saved.holder, kind: 'waiter', why });
      const graceUntil = saved.graceUntil ?? snapshot.savedAt + this.opts.queueGraceMs;
      if (this.waiting.has(saved.holder) || this.byHolder.has(saved.holder)) drop('duplicate');
      else if (graceUntil <= now) drop('grace_expired');
      else if (this.queue.length >= this.opts.maxQueue) drop('queue_full');
      else {
        const waiter: Waiter = {
          holder: saved.holder,
          uid: saved.uid,
          client: saved.client ?? null,
          since: saved.since,
          connected: false,
          durationMs: 0,
          poll: null,
          graceTimer: null,
          graceUntil: null,
          heldBack: 0,
        };
        this.queue.push(waiter);
        this.waiting.set(waiter.holder, waiter);
        this.keepPlace(waiter, graceUntil - now);
      }
    }
    this.emit((l) => l.changed?.());
    return { leases: this.held.size, queued: this.queue.length, dropped };
  }

  /** Stop every timer; leases stay as they are (the state file keeps them across a restart). */
  close(): void {
    for (const held of this.held.values()) held.timer.cancel();
    for (const entry of this.unleased.values()) entry.timer.cancel();
    for (const waiter of this.queue) waiter.graceTimer?.cancel();
  }

  /** Release every lease, e.g. on shutdown without a state file. */
  releaseAll(reason: ReleaseReason): void {
    for (const id of [...this.held.keys()]) this.release(id, reason);
  }

  private blocked(): DenialReason | null {
    return this.opts.gate?.() ?? null;
  }

  /** Slots taken: leases, and start-ups without one. */
  private busy(): number {
    return this.held.size + this.unleased.size;
  }

  /** Grant free slots to the head of the queue, in order, while the gate is open. */
  private pump(): void {
    this.pumpFor(null);
  }

  private pumpFor(target: Holder | null): Lease | null {
    let result: Lease | null = null;
    while (this.busy() < this.slots && this.queue.length > 0 && this.blocked() === null) {
      const head = this.queue[0] as Waiter;
      if (head.poll && !head.poll.alive()) {
        this.removeWaiter(head, 'hung_up', false);
        continue;
      }
      // A head between two polls keeps the freed slot reserved until it polls again or its grace ends
      // (by the clock, not only by its timer, which may fire late on a busy loop).
      // (The target's own request, even without a poll, may take the slot it is first in line for.)
      if (!head.poll && head.holder !== target) {
        if (head.graceUntil === null || this.opts.clock.now() < head.graceUntil) break;
        this.removeWaiter(head, 'grace_expired', false);
        continue;
      }
      this.queue.shift();
      this.waiting.delete(head.holder);
      head.graceTimer?.cancel();
      const lease = this.grant(
        head.holder,
        head.uid,
        head.client,
        head.durationMs,
        'v1',
        head.since,
        head.heldBack,
      );
      if (head.holder === target) result = lease;
      else head.poll?.granted(lease);
    }
    const head = this.queue[0];
    if (head && this.held.size < this.slots && this.busy() >= this.slots)
      head.heldBack = Math.max(head.heldBack, this.unleased.size);
    return result;
  }

  private grant(
    holder: Holder,
    uid: string | null,
    client: string | null,
    durationMs: number,
    api: Api,
    since: number,
    heldBack: number,
  ): Lease {
    // A pod counted as starting without a lease that now gets one counts once, as a holder.
    this.endUnleased(holder, 'leased', false);
    const now = this.opts.clock.now();
    const lease: Lease = {
      id: this.opts.newId() as LeaseId,
      holder,
      uid,
      client,
      slot: this.freeSlot(),
      api,
      grantedAt: now,
      expiresAt: now + durationMs,
    };
    this.held.set(lease.id, { lease, timer: this.expireAt(lease) });
    this.byHolder.set(holder, lease.id);
    this.emit((l) => l.granted?.(lease, now - since, heldBack));
    this.emit((l) => l.changed?.());
    return lease;
  }

  private slotTaken(slot: number): boolean {
    for (const h of this.held.values()) if (h.lease.slot === slot) return true;
    return false;
  }

  private freeSlot(): number {
    const used = new Set([...this.held.values()].map((h) => h.lease.slot));
    let slot = 0;
    while (used.has(slot)) slot++;
    return slot;
  }

  /** End the lease at its expiresAt (releasing early would grant the next waiter inside its interval). */
  private expireAt(lease: Lease): TimerHandle {
    return this.timerAt(
      () => lease.expiresAt,
      () => {
        if (this.held.get(lease.id)?.lease === lease) this.release(lease.id, 'expired');
      },
    );
  }

  /** Stop counting an unleased start-up at its bound. */
  private endAtBound(start: UnleasedStart): TimerHandle {
    return this.timerAt(
      () => start.bound,
      () => {
        if (this.unleased.get(start.pod)?.start.since === start.since) this.endUnleased(start.pod, 'bound');
      },
    );
  }

  /**
   * Call `fire` at `when()`, never before: a timer may fire early (Node's timers run on the loop's cached
   * clock, a millisecond or so behind Date.now()), so one that does is armed again for the time left.
   */
  private timerAt(when: () => number, fire: () => void): TimerHandle {
    const handle = { current: null as TimerHandle | null };
    const arm = () => {
      handle.current = this.opts.clock.setTimer(when() - this.opts.clock.now(), () => {
        if (this.opts.clock.now() < when()) arm();
        else fire();
      });
    };
    arm();
    return { cancel: () => handle.current?.cancel() };
  }

  private keepPlace(waiter: Waiter, graceMs = this.opts.queueGraceMs): void {
    waiter.graceTimer?.cancel();
    waiter.graceUntil = this.opts.clock.now() + graceMs;
    waiter.graceTimer = this.opts.clock.setTimer(graceMs, () => {
      if (this.waiting.get(waiter.holder) === waiter && !waiter.poll)
        this.removeWaiter(waiter, 'grace_expired');
    });
  }

  private removeWaiter(waiter: Waiter, why: 'hung_up' | 'grace_expired' | 'pod_gone', pump = true): void {
    const i = this.queue.indexOf(waiter);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.waiting.delete(waiter.holder);
    waiter.graceTimer?.cancel();
    waiter.poll = null;
    this.emit((l) => l.left?.(waiter, why));
    this.emit((l) => l.changed?.());
    if (pump) this.pump();
  }

  private emit(fn: (l: LockListener) => void): void {
    for (const listener of this.listeners) fn(listener);
  }
}
