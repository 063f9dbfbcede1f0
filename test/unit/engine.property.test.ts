// Thousands of random interleavings of acquire, poll end, hang-up, release, renew, expiry and gate
// changes, checked against the invariants the product promises; the second property adds timers that
// fire early and late, server restarts and kills between a grant and its save. Both add start-ups without
// a lease (unleased) that take slots: no grant while held + unleased fill them, each ends by its bound.
import { expect } from 'chai';
import fc from 'fast-check';
import { LockEngine, type Poll } from '../../src/lock/engine.js';
import type { Lease, Snapshot, UnleasedStart } from '../../src/lock/types.js';
import { FakeClock, SkewedClock } from '../support/fake-clock.js';

const HOLDERS = ['ns/a', 'ns/b', 'ns/c', 'ns/d', 'ns/e', 'ns/f'];
/** Pods the watcher sees starting without a lease (a holder's name too: the engine must not count it). */
const STARTING = ['other/p', 'other/q', 'other/r', 'ns/a'];

const op = fc.oneof(
  fc.record({
    t: fc.constant('poll' as const),
    h: fc.constantFrom(...HOLDERS),
    d: fc.integer({ min: 1, max: 20 }),
  }),
  fc.record({ t: fc.constant('peek' as const), h: fc.constantFrom(...HOLDERS) }),
  fc.record({ t: fc.constant('legacy' as const), d: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ t: fc.constant('endPoll' as const), h: fc.constantFrom(...HOLDERS) }),
  fc.record({ t: fc.constant('hangUp' as const), h: fc.constantFrom(...HOLDERS) }),
  fc.record({ t: fc.constant('release' as const), h: fc.constantFrom(...HOLDERS) }),
  fc.record({
    t: fc.constant('renew' as const),
    h: fc.constantFrom(...HOLDERS),
    d: fc.integer({ min: 1, max: 20 }),
  }),
  fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 8000 }) }),
  fc.record({ t: fc.constant('gate' as const), open: fc.boolean() }),
  fc.record({
    t: fc.constant('unleased' as const),
    p: fc.constantFrom(...STARTING),
    kind: fc.constantFrom('restart' as const, 'unmanaged' as const),
    bound: fc.integer({ min: 1, max: 20 }),
  }),
  fc.record({ t: fc.constant('unleasedEnd' as const), p: fc.constantFrom(...STARTING) }),
);

/** At a grant the slots were not full: held + unleased, the grant included, fit in them. */
function expectRoomAtGrant(engine: LockEngine, slots: number): void {
  expect(
    engine.activeCount + engine.unleasedCount,
    'granted while held + unleased filled the slots',
  ).to.be.at.most(slots);
}

/** No unleased start-up counts past its bound (plus how late a timer may fire). */
function expectWithinBounds(engine: LockEngine, now: number, lateMs = 0): void {
  for (const u of engine.unleasedStarts())
    expect(now, `${u.pod} counted past its bound`).to.be.below(u.bound + lateMs + 1);
}

class P implements Poll {
  open = true;
  done = false;
  constructor(
    private readonly onGrant: (lease: Lease) => void = () => undefined,
    private readonly onSuperseded: () => void = () => undefined,
  ) {}
  alive() {
    return this.open && !this.done;
  }
  granted(lease: Lease) {
    // No grant to a departed waiter: a poll whose client hung up is never granted.
    expect(this.open, 'granted to a closed connection').to.equal(true);
    expect(this.done, 'granted twice').to.equal(false);
    this.done = true;
    this.onGrant(lease);
  }
  superseded() {
    this.done = true;
    this.onSuperseded();
  }
}

describe('lock engine invariants (property)', () => {
  it('never exceeds N holders, grants in arrival order, never to a departed waiter, and frees every slot', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.array(op, { maxLength: 80 }), (slots, ops) => {
        const clock = new FakeClock();
        let open = true;
        let ids = 0;
        const engine = new LockEngine({
          slots,
          maxQueue: 100,
          queueGraceMs: 5000,
          clock,
          newId: () => `l${++ids}`,
          gate: () => (open ? null : 'checks_failing'),
        });
        const polls = new Map<string, P>();
        const joined: string[] = [];
        const grantedOrder: string[] = [];
        engine.listen({
          queued: (e) => joined.push(e.holder),
          left: (e) => {
            joined.splice(joined.indexOf(e.holder), 1);
          },
          granted: (lease: Lease) => {
            expectRoomAtGrant(engine, slots);
            const i = joined.indexOf(lease.holder);
            if (lease.api === 'v1') {
              // Arrival order: the holder granted from the queue is the earliest still waiting.
              if (i >= 0) {
                expect(i, `${lease.holder} granted before ${joined[0]}`).to.equal(0);
                joined.splice(0, 1);
              }
            }
            grantedOrder.push(lease.holder);
          },
        });

        for (const o of ops) {
          switch (o.t) {
            case 'poll': {
              const p = new P();
              polls.set(o.h, p);
              engine.acquire(o.h, null, o.d * 1000, p);
              break;
            }
            case 'peek':
              engine.acquire(o.h, null, 5000, null);
              break;
            case 'legacy':
              engine.tryAcquire(`legacy-${clock.now()}-${Math.random()}`, o.d * 1000);
              break;
            case 'endPoll': {
              const p = polls.get(o.h);
              if (p && !p.done) engine.endPoll(o.h, p);
              break;
            }
            case 'hangUp': {
              const p = polls.get(o.h);
              if (p && !p.done) {
                p.open = false;
                engine.hangUp(o.h, p);
              }
              break;
            }
            case 'release': {
              const lease = engine.leaseOf(o.h);
              if (lease) engine.release(lease.id);
              break;
            }
            case 'renew': {
              const lease = engine.leaseOf(o.h);
              if (lease) engine.extend(lease.id, o.d * 1000);
              break;
            }
            case 'tick':
              clock.advance(o.ms);
              break;
            case 'gate':
              open = o.open;
              engine.reconsider();
              break;
            case 'unleased':
              engine.countUnleased({
                pod: o.p,
                kind: o.kind,
                since: clock.now(),
                bound: clock.now() + o.bound * 1000,
              });
              break;
            case 'unleasedEnd':
              engine.endUnleased(o.p, 'started');
              break;
          }
          expect(engine.activeCount).to.be.at.most(slots);
          expectWithinBounds(engine, clock.now());
          for (const u of engine.unleasedStarts())
            expect(engine.leaseOf(u.pod), `${u.pod} counted twice`).to.equal(undefined);
          const holders = engine.leases().map((l) => l.holder);
          expect(new Set(holders).size).to.equal(holders.length);
          const slotsUsed = engine.leases().map((l) => l.slot);
          expect(new Set(slotsUsed).size).to.equal(slotsUsed.length);
          expect(Math.max(-1, ...slotsUsed)).to.be.below(slots);
        }

        // Every slot is eventually reusable: once the open polls end (the HTTP edge bounds them by
        // max-wait) and time passes every lease and grace period, the lock is empty and grants again.
        open = true;
        for (const [h, p] of polls) if (!p.done) engine.endPoll(h, p);
        clock.advance(21_000);
        expect(engine.activeCount).to.equal(0);
        expect(engine.queueLength).to.equal(0);
        expect(engine.unleasedCount).to.equal(0);
        for (let i = 0; i < slots; i++)
          expect(engine.tryAcquire(`final-${i}`, 1000).kind).to.equal('granted');
        expect(clock.pending()).to.equal(slots);
      }),
      { numRuns: 3000 },
    );
  });

  it('never has more than N holders across restarts, kills before a save and timers that fire early or late', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.array(faultOp, { maxLength: 80 }),
        (slots, seed, ops) => new FaultWorld(slots, seed).run(ops),
      ),
      {
        numRuns: 1500,
        examples: [
          // A legacy request after a restart whose name is a restored lease's (issue 13).
          [
            1,
            1,
            [{ t: 'legacy', d: 20 }, { t: 'restart', downMs: 0 }, { t: 'legacy', d: 20 }, { t: 'save' }],
          ],
        ],
      },
    );
  });
});

const GRACE_MS = 5000;
/** How early and how late a timer may fire (the SkewedClock's jitter). */
const EARLY_MS = 5;
const LATE_MS = 40;

const faultOp = fc.oneof(
  op,
  fc.record({ t: fc.constant('save' as const) }),
  fc.record({ t: fc.constant('restart' as const), downMs: fc.integer({ min: 0, max: 12_000 }) }),
  fc.record({ t: fc.constant('kill' as const), downMs: fc.integer({ min: 0, max: 12_000 }) }),
);
type FaultOp = typeof faultOp extends fc.Arbitrary<infer T> ? T : never;

/** mulberry32: the jitter comes from fast-check's seed, so a failure replays exactly. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One node's lock server, modelled as the real one runs it: a grant is answered only after a save that
 * holds it (writes are otherwise coalesced: a `save` op), a graceful restart saves everything and a
 * kill loses whatever was not saved, and every connection dies with the process. Holders are judged
 * as clients see them: a client holds a lease from its grantedAt until the lease ends in whichever
 * process ends it, and only once its grant was answered.
 */
class FaultWorld {
  private readonly random: () => number;
  private readonly clock: SkewedClock;
  private engine!: LockEngine;
  private saved: Snapshot | null = null;
  /** Grants made since the last save: answered at the next save, lost by a kill. */
  private unanswered: { client: string; lease: Lease }[] = [];
  /** Lease end per id, across processes (null while held). */
  private readonly ends = new Map<string, number | null>();
  /** Answered grants: one per client and lease. */
  private readonly held = new Map<string, { id: string; start: number }>();
  private readonly polls = new Map<string, P>();
  /** When each holder last had a poll end, or asked without one (its grace runs from there). */
  private readonly lastSeen = new Map<string, number>();
  private joined: string[] = [];
  /** Start-ups the watcher sees: a new process counts them again from its first list. */
  private readonly starting = new Map<string, UnleasedStart>();
  private open = true;
  private ids = 0;
  private legacySeq = 0;

  constructor(
    private readonly slots: number,
    seed: number,
  ) {
    this.random = prng(seed);
    this.clock = new SkewedClock(() => Math.floor(this.random() * (EARLY_MS + LATE_MS + 1)) - EARLY_MS);
    this.boot();
  }

  run(ops: FaultOp[]): void {
    for (const o of ops) {
      if (o.t !== 'kill') this.answerPending();
      this.step(o);
      this.check();
    }
    this.answerPending();
    this.finish();
  }

  private boot(): void {
    const clock = this.clock;
    this.engine = new LockEngine({
      slots: this.slots,
      maxQueue: 100,
      queueGraceMs: GRACE_MS,
      clock,
      newId: () => `l${++this.ids}`,
      gate: () => (this.open ? null : 'checks_failing'),
    });
    // Legacy names restart with every process, on purpose: a name that collides with a restored
    // lease must still never be handed that lease.
    this.legacySeq = 0;
    this.engine.listen({
      queued: (e) => this.joined.push(e.holder),
      left: (e) => {
        this.joined.splice(this.joined.indexOf(e.holder), 1);
      },
      granted: (lease) => {
        expectRoomAtGrant(this.engine, this.slots);
        const i = this.joined.indexOf(lease.holder);
        if (lease.api === 'v1' && i >= 0) {
          expect(i, `${lease.holder} granted before ${this.joined[0]}`).to.equal(0);
          this.joined.splice(0, 1);
        }
        this.ends.set(lease.id, null);
      },
      released: (lease) => {
        this.ends.set(lease.id, this.clock.now());
      },
    });
  }

  /** A save that the answers waited for: every grant so far is on disk, then its client hears of it. */
  private answerPending(): void {
    if (this.unanswered.length === 0) return;
    this.saved = this.engine.snapshot();
    for (const { client, lease } of this.unanswered) {
      const key = `${client}|${lease.id}`;
      if (!this.held.has(key)) this.held.set(key, { id: lease.id, start: lease.grantedAt });
    }
    this.unanswered = [];
  }

  private granted(client: string, lease: Lease): void {
    this.unanswered.push({ client, lease });
  }

  private step(o: FaultOp): void {
    const { engine, clock } = this;
    switch (o.t) {
      case 'poll': {
        const p = new P(
          (lease) => this.granted(o.h, lease),
          () => this.lastSeen.set(o.h, clock.now()),
        );
        this.polls.set(o.h, p);
        this.lastSeen.set(o.h, clock.now());
        const r = engine.acquire(o.h, null, o.d * 1000, p);
        if (r.kind === 'granted') this.granted(o.h, r.lease);
        break;
      }
      case 'peek': {
        this.lastSeen.set(o.h, clock.now());
        const r = engine.acquire(o.h, null, 5000, null);
        if (r.kind === 'granted') this.granted(o.h, r.lease);
        break;
      }
      case 'legacy': {
        const client = `legacy-request-${++this.ids}`;
        const r = engine.tryAcquire(`legacy:10.0.0.1#${++this.legacySeq}`, o.d * 1000);
        if (r.kind === 'granted') this.granted(client, r.lease);
        break;
      }
      case 'endPoll': {
        const p = this.polls.get(o.h);
        if (p && !p.done) {
          this.lastSeen.set(o.h, clock.now());
          engine.endPoll(o.h, p);
        }
        break;
      }
      case 'hangUp': {
        const p = this.polls.get(o.h);
        if (p && !p.done) {
          p.open = false;
          this.lastSeen.set(o.h, clock.now());
          engine.hangUp(o.h, p);
        }
        break;
      }
      case 'release': {
        const lease = engine.leaseOf(o.h);
        if (lease) engine.release(lease.id);
        break;
      }
      case 'renew': {
        const lease = engine.leaseOf(o.h);
        if (lease) engine.extend(lease.id, o.d * 1000);
        break;
      }
      case 'tick':
        clock.advance(o.ms);
        break;
      case 'gate':
        this.open = o.open;
        engine.reconsider();
        break;
      case 'unleased': {
        const start = { pod: o.p, kind: o.kind, since: clock.now(), bound: clock.now() + o.bound * 1000 };
        this.starting.set(o.p, start);
        engine.countUnleased(start);
        break;
      }
      case 'unleasedEnd':
        this.starting.delete(o.p);
        engine.endUnleased(o.p, 'started');
        break;
      case 'save':
        this.saved = engine.snapshot();
        break;
      case 'restart':
        // Graceful: open polls are answered (their places kept for the grace), then the final save.
        for (const [h, p] of this.polls) {
          if (p.done) continue;
          this.lastSeen.set(h, clock.now());
          engine.endPoll(h, p);
        }
        this.saved = engine.snapshot();
        this.replace(o.downMs);
        break;
      case 'kill':
        this.unanswered = [];
        this.replace(o.downMs);
        break;
    }
  }

  /** The process dies (its timers and connections with it); a new one starts from the last save. */
  private replace(downMs: number): void {
    const now = this.clock.now();
    this.engine.close();
    for (const lease of this.engine.leases())
      if (this.ends.get(lease.id) === null) this.ends.set(lease.id, now);
    for (const [h, p] of this.polls) {
      if (p.done) continue;
      p.open = false;
      p.done = true;
      this.lastSeen.set(h, now);
    }
    this.clock.advance(downMs);
    this.boot();
    if (this.saved) this.engine.restore(this.saved);
    // A lease the new process holds again is held from its first grant: one interval, not two.
    for (const lease of this.engine.leases()) this.ends.set(lease.id, null);
    this.joined = this.engine.waiters().map((w) => w.holder);
    for (const start of this.starting.values()) this.engine.countUnleased(start);
  }

  private check(): void {
    const { engine, slots } = this;
    expect(engine.activeCount).to.be.at.most(slots);
    const holders = engine.leases().map((l) => l.holder);
    expect(new Set(holders).size).to.equal(holders.length);
    const used = engine.leases().map((l) => l.slot);
    expect(new Set(used).size).to.equal(used.length);
    expect(Math.max(-1, ...used)).to.be.below(slots);
    // A place between polls lasts one grace from the holder's last poll, across restarts too (a late
    // timer may add its lateness, no more).
    const now = this.clock.now();
    for (const w of engine.waiters()) {
      if (w.connected) continue;
      const seen = this.lastSeen.get(w.holder) ?? -Infinity;
      expect(now, `${w.holder} kept its place past its grace`).to.be.at.most(seen + GRACE_MS + LATE_MS + 1);
    }
    expect(this.maxOverlap(), 'more holders than slots at some moment').to.be.at.most(slots);
    expectWithinBounds(engine, now, LATE_MS);
  }

  /** The most answered grants whose [grantedAt, end) intervals overlap at any one moment. */
  private maxOverlap(): number {
    const edges: [number, number][] = [];
    for (const { id, start } of this.held.values()) {
      const end = this.ends.get(id) ?? Infinity;
      if (end <= start) continue;
      edges.push([start, 1], [end, -1]);
    }
    // An end at t frees the slot for a grant at t: ends sort first.
    edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let n = 0;
    let max = 0;
    for (const [, d] of edges) max = Math.max(max, (n += d));
    return max;
  }

  /** Every slot comes back: once polls end and time passes every lease and grace, all N are free. */
  private finish(): void {
    this.open = true;
    for (const [h, p] of this.polls) if (!p.done) this.engine.endPoll(h, p);
    this.clock.advance(21_000 + GRACE_MS + LATE_MS);
    expect(this.engine.activeCount).to.equal(0);
    expect(this.engine.queueLength).to.equal(0);
    expect(this.engine.unleasedCount).to.equal(0);
    for (let i = 0; i < this.slots; i++) {
      expect(this.engine.tryAcquire(`final-${i}`, 1000).kind).to.equal('granted');
    }
  }
}
