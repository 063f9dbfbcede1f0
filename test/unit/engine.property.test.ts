// Thousands of random interleavings of acquire, poll end, hang-up, release, renew, expiry and gate
// changes, checked against the invariants the product promises.
import { expect } from 'chai';
import fc from 'fast-check';
import { LockEngine, type Poll } from '../../src/lock/engine.js';
import type { Lease } from '../../src/lock/types.js';
import { FakeClock } from '../support/fake-clock.js';

const HOLDERS = ['ns/a', 'ns/b', 'ns/c', 'ns/d', 'ns/e', 'ns/f'];

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
);

class P implements Poll {
  open = true;
  done = false;
  alive() {
    return this.open && !this.done;
  }
  granted() {
    // No grant to a departed waiter: a poll whose client hung up is never granted.
    expect(this.open, 'granted to a closed connection').to.equal(true);
    expect(this.done, 'granted twice').to.equal(false);
    this.done = true;
  }
  superseded() {
    this.done = true;
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
            expect(engine.activeCount).to.be.at.most(slots);
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
          }
          expect(engine.activeCount).to.be.at.most(slots);
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
        for (let i = 0; i < slots; i++)
          expect(engine.tryAcquire(`final-${i}`, 1000).kind).to.equal('granted');
        expect(clock.pending()).to.equal(slots);
      }),
      { numRuns: 3000 },
    );
  });
});
