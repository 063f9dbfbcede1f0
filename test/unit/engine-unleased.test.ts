// Start-ups without a lease (pods without the client, restarts after a lease ended) take slots in the
// engine, each until it is reported over or reaches its bound; they never take a queue place or a lease.
import { expect } from 'chai';
import { LockEngine, type Poll } from '../../src/lock/engine.js';
import type { Lease, UnleasedEnd, UnleasedStart } from '../../src/lock/types.js';
import { FakeClock, SkewedClock } from '../support/fake-clock.js';

function setup(slots = 1, clock = new FakeClock()) {
  let n = 0;
  const engine = new LockEngine({
    slots,
    maxQueue: 100,
    queueGraceMs: 10_000,
    clock,
    newId: () => `l${++n}`,
  });
  const ended: [string, UnleasedEnd][] = [];
  const heldBack: [string, number][] = [];
  engine.listen({
    unleasedEnded: (s, why) => ended.push([s.pod, why]),
    granted: (lease, _waited, back) => heldBack.push([lease.holder, back ?? 0]),
  });
  return { clock, engine, ended, heldBack };
}

function start(clock: { now(): number }, pod: string, boundMs = 120_000): UnleasedStart {
  const since = clock.now();
  return { pod, kind: 'unmanaged', since, bound: since + boundMs };
}

class TestPoll implements Poll {
  lease: Lease | null = null;
  alive() {
    return this.lease === null;
  }
  granted(lease: Lease) {
    this.lease = lease;
  }
  superseded() {}
}

describe('lock engine: unleased start-ups', () => {
  it('holds a waiter back while held + unleased fill the slots, and grants it when the start-up ends', () => {
    const { engine, clock, ended, heldBack } = setup(2);
    engine.acquire('ns/a', null, 60_000, null);
    expect(engine.countUnleased(start(clock, 'other/web'))).to.equal(true);
    const poll = new TestPoll();
    expect(engine.acquire('ns/b', null, 60_000, poll).kind).to.equal('queued');
    expect(engine.tryAcquire('legacy-1', 5000)).to.deep.equal({ kind: 'denied', reason: 'locked' });
    engine.endUnleased('other/web', 'started');
    expect(poll.lease?.holder).to.equal('ns/b');
    expect(ended).to.deep.equal([['other/web', 'started']]);
    expect(heldBack).to.deep.equal([
      ['ns/a', 0],
      ['ns/b', 1],
    ]);
  });

  it('stops counting a start-up at its bound, never before, even when the timer fires early', () => {
    const { engine, clock, ended } = setup(1, new SkewedClock(() => -3));
    engine.countUnleased(start(clock, 'other/slow', 120_000));
    const poll = new TestPoll();
    engine.acquire('ns/a', null, 60_000, poll);
    clock.advance(119_999);
    expect(poll.lease).to.equal(null);
    clock.advance(10);
    expect(poll.lease?.holder).to.equal('ns/a');
    expect(ended).to.deep.equal([['other/slow', 'bound']]);
  });

  it('never jumps the queue or takes a lease: the FIFO order of waiters is unchanged', () => {
    const { engine, clock } = setup(1);
    const pa = new TestPoll();
    const pb = new TestPoll();
    engine.countUnleased(start(clock, 'other/x'));
    engine.acquire('ns/a', null, 60_000, pa);
    engine.acquire('ns/b', null, 60_000, pb);
    expect(engine.waiters().map((w) => w.holder)).to.deep.equal(['ns/a', 'ns/b']);
    expect(engine.leases()).to.deep.equal([]);
    engine.endUnleased('other/x', 'gone');
    expect(pa.lease?.holder).to.equal('ns/a');
    expect(pb.lease).to.equal(null);
  });

  it('does not count a pod that holds or waits for a lease, nor a start-up already past its bound', () => {
    const { engine, clock } = setup(2);
    engine.acquire('ns/a', null, 60_000, null);
    engine.acquire('ns/b', null, 60_000, null);
    engine.acquire('ns/c', null, 60_000, null);
    expect(engine.countUnleased(start(clock, 'ns/a'))).to.equal(false);
    expect(engine.countUnleased(start(clock, 'ns/c'))).to.equal(false);
    clock.advance(10);
    const past = clock.now() - 10;
    expect(engine.countUnleased({ pod: 'x/y', kind: 'restart', since: past, bound: past + 10 })).to.equal(
      false,
    );
    expect(engine.unleasedCount).to.equal(0);
  });

  it('counts one pod once, a new container start replacing the old one with its own bound', () => {
    const { engine, clock } = setup(3);
    const t0 = clock.now();
    const first = start(clock, 'other/web', 10_000);
    engine.countUnleased(first);
    engine.countUnleased(first);
    clock.advance(5000);
    engine.countUnleased({ ...start(clock, 'other/web', 10_000), kind: 'restart' });
    expect(engine.unleasedStarts()).to.deep.equal([
      { pod: 'other/web', kind: 'restart', since: t0 + 5000, bound: t0 + 15_000 },
    ]);
    clock.advance(6000);
    expect(engine.unleasedCount).to.equal(1);
    clock.advance(4000);
    expect(engine.unleasedCount).to.equal(0);
  });

  it('may count more start-ups than slots (they are not granted anything) and frees as each ends', () => {
    const { engine, clock } = setup(1);
    for (const pod of ['o/1', 'o/2', 'o/3']) engine.countUnleased(start(clock, pod));
    const poll = new TestPoll();
    engine.acquire('ns/a', null, 60_000, poll);
    engine.endUnleased('o/1', 'started');
    engine.endUnleased('o/2', 'started');
    expect(poll.lease).to.equal(null);
    engine.endUnleased('o/3', 'unseen');
    expect(poll.lease?.holder).to.equal('ns/a');
  });
});
