import { expect } from 'chai';
import { LockEngine, type Poll } from '../../src/lock/engine.js';
import type { DenialReason, Lease, ReleaseReason, UnleasedEnd, UnleasedStart } from '../../src/lock/types.js';
import { FakeClock, SkewedClock } from '../support/fake-clock.js';

function setup(
  opts: {
    slots?: number;
    maxQueue?: number;
    graceMs?: number;
    gate?: () => DenialReason | null;
    clock?: FakeClock;
  } = {},
) {
  const clock = opts.clock ?? new FakeClock();
  let n = 0;
  const engine = new LockEngine({
    slots: opts.slots ?? 1,
    maxQueue: opts.maxQueue ?? 100,
    queueGraceMs: opts.graceMs ?? 10_000,
    clock,
    newId: () => `lease-${++n}`,
    gate: opts.gate,
  });
  const released: [string, ReleaseReason][] = [];
  const ended: [string, UnleasedEnd][] = [];
  const heldBack: [string, number][] = [];
  engine.listen({
    released: (l, r) => released.push([l.holder, r]),
    unleasedEnded: (s, why) => ended.push([s.pod, why]),
    granted: (lease, _waited, back) => heldBack.push([lease.holder, back ?? 0]),
  });
  return { clock, engine, released, ended, heldBack };
}

function start(clock: { now(): number }, pod: string, boundMs = 120_000): UnleasedStart {
  const since = clock.now();
  return { pod, kind: 'unmanaged', since, bound: since + boundMs };
}

class TestPoll implements Poll {
  lease: Lease | null = null;
  open = true;
  supersededCount = 0;
  alive() {
    return this.open && this.lease === null;
  }
  granted(lease: Lease) {
    this.lease = lease;
  }
  superseded() {
    this.supersededCount++;
  }
}

describe('lock engine', () => {
  it('grants free slots at once and holds the next request back', () => {
    const { engine } = setup({ slots: 2 });
    expect(engine.tryAcquire('a', 10_000).kind).to.equal('granted');
    expect(engine.tryAcquire('b', 10_000).kind).to.equal('granted');
    expect(engine.tryAcquire('c', 10_000)).to.deep.equal({ kind: 'denied', reason: 'locked' });
    expect(engine.leases().map((l) => l.slot)).to.deep.equal([0, 1]);
  });

  it('releases a lease when its duration runs out', () => {
    const { engine, clock, released } = setup();
    engine.tryAcquire('a', 5000);
    clock.advance(4999);
    expect(engine.activeCount).to.equal(1);
    clock.advance(1);
    expect(engine.activeCount).to.equal(0);
    expect(released).to.deep.equal([['a', 'expired']]);
  });

  it('never ends a lease before its expiresAt when the timer fires early', () => {
    // Real timers fire up to a millisecond or so before Date.now() reaches their deadline.
    const clock = new SkewedClock(() => -2);
    const engine = new LockEngine({ slots: 1, maxQueue: 10, queueGraceMs: 10_000, clock, newId: () => 'l' });
    const intervals: { grantedAt: number; endedAt?: number }[] = [];
    engine.listen({
      granted: (l) => intervals.push({ grantedAt: l.grantedAt }),
      released: () => ((intervals.at(-1) as { endedAt?: number }).endedAt = clock.now()),
    });
    const first = engine.acquire('a', null, 5000, null) as { lease: Lease };
    const poll = new TestPoll();
    engine.acquire('b', null, 5000, poll);
    clock.advance(4998);
    expect(engine.activeCount, 'the early timer released the lease').to.equal(1);
    expect(poll.lease).to.equal(null);
    clock.advance(2);
    expect(poll.lease?.holder).to.equal('b');
    expect(intervals[0]?.endedAt).to.equal(first.lease.expiresAt);
    expect(poll.lease?.grantedAt).to.be.at.least(first.lease.expiresAt);
  });

  it('grants the next waiter as soon as the holder releases', () => {
    const { engine } = setup();
    const first = engine.acquire('ns/a', null, 10_000, null);
    expect(first.kind).to.equal('granted');
    const poll = new TestPoll();
    expect(engine.acquire('ns/b', null, 10_000, poll)).to.deep.equal({
      kind: 'queued',
      position: 1,
      queueLength: 1,
    });
    expect(poll.lease).to.equal(null);
    engine.release((first as { lease: Lease }).lease.id);
    expect(poll.lease?.holder).to.equal('ns/b');
    expect(engine.queueLength).to.equal(0);
  });

  it('gives a holder that already holds a lease the same lease back', () => {
    const { engine } = setup({ slots: 2 });
    const a = engine.acquire('ns/a', null, 10_000, null);
    const again = engine.acquire('ns/a', null, 10_000, null);
    expect(again).to.deep.equal(a);
    expect(engine.activeCount).to.equal(1);
  });

  it('grants in arrival order', () => {
    const { engine } = setup();
    const held = engine.acquire('ns/0', null, 10_000, null) as { lease: Lease };
    const polls = ['ns/1', 'ns/2', 'ns/3'].map((h) => {
      const p = new TestPoll();
      engine.acquire(h, null, 10_000, p);
      return p;
    });
    engine.release(held.lease.id);
    expect(polls.map((p) => p.lease?.holder ?? null)).to.deep.equal(['ns/1', null, null]);
    engine.release(polls[0]!.lease!.id);
    expect(polls[1]!.lease?.holder).to.equal('ns/2');
  });

  it('tells a legacy request 423 while others wait, even with a free slot reserved for them', () => {
    const { engine } = setup();
    const held = engine.acquire('ns/a', null, 10_000, null) as { lease: Lease };
    const poll = new TestPoll();
    engine.acquire('ns/b', null, 10_000, poll);
    engine.endPoll('ns/b', poll); // between two polls
    engine.release(held.lease.id);
    expect(engine.tryAcquire('legacy', 10_000)).to.deep.equal({ kind: 'denied', reason: 'locked' });
    // The head polls again and takes the slot that waited for it.
    expect(engine.acquire('ns/b', null, 10_000, new TestPoll()).kind).to.equal('granted');
  });

  it('keeps the queue place between polls for the grace period, then drops it', () => {
    const { engine, clock } = setup({ graceMs: 3000 });
    engine.acquire('ns/a', null, 60_000, null);
    const p1 = new TestPoll();
    engine.acquire('ns/b', null, 10_000, p1);
    engine.acquire('ns/c', null, 10_000, new TestPoll());
    engine.endPoll('ns/b', p1);
    clock.advance(2999);
    expect(engine.position('ns/b')).to.equal(1);
    engine.acquire('ns/b', null, 10_000, new TestPoll());
    clock.advance(2999);
    expect(engine.position('ns/b')).to.equal(1);
    engine.endPoll('ns/b', p1); // an older poll ending changes nothing
    expect(engine.position('ns/b')).to.equal(1);
  });

  it('drops a waiter whose grace ran out and moves the next one up', () => {
    const { engine, clock } = setup({ graceMs: 3000 });
    const held = engine.acquire('ns/a', null, 60_000, null) as { lease: Lease };
    const pb = new TestPoll();
    engine.acquire('ns/b', null, 10_000, pb);
    const pc = new TestPoll();
    engine.acquire('ns/c', null, 10_000, pc);
    engine.endPoll('ns/b', pb);
    engine.release(held.lease.id); // reserved for b, which is between polls
    expect(pc.lease).to.equal(null);
    clock.advance(3000);
    expect(engine.position('ns/b')).to.equal(0);
    expect(pc.lease?.holder).to.equal('ns/c');
  });

  it('removes a waiter that hangs up at once and never grants it', () => {
    const { engine } = setup();
    const held = engine.acquire('ns/a', null, 60_000, null) as { lease: Lease };
    const pb = new TestPoll();
    engine.acquire('ns/b', null, 10_000, pb);
    const pc = new TestPoll();
    engine.acquire('ns/c', null, 10_000, pc);
    engine.hangUp('ns/b', pb);
    expect(engine.position('ns/b')).to.equal(0);
    expect(engine.position('ns/c')).to.equal(1);
    engine.release(held.lease.id);
    expect(pb.lease).to.equal(null);
    expect(pc.lease?.holder).to.equal('ns/c');
  });

  it('skips a waiter whose connection died before its turn came', () => {
    const { engine } = setup();
    const held = engine.acquire('ns/a', null, 60_000, null) as { lease: Lease };
    const pb = new TestPoll();
    engine.acquire('ns/b', null, 10_000, pb);
    const pc = new TestPoll();
    engine.acquire('ns/c', null, 10_000, pc);
    pb.open = false; // closed, but the hang-up was not seen yet
    engine.release(held.lease.id);
    expect(pb.lease).to.equal(null);
    expect(pc.lease?.holder).to.equal('ns/c');
  });

  it('answers an older poll of the same holder when a newer one arrives', () => {
    const { engine } = setup();
    engine.acquire('ns/a', null, 60_000, null);
    const older = new TestPoll();
    engine.acquire('ns/b', null, 10_000, older);
    const newer = new TestPoll();
    engine.acquire('ns/b', null, 10_000, newer);
    expect(older.supersededCount).to.equal(1);
    expect(engine.queueLength).to.equal(1);
  });

  it('turns requests away with queue_full beyond max-queue', () => {
    const { engine } = setup({ maxQueue: 2 });
    engine.acquire('ns/a', null, 60_000, null);
    engine.acquire('ns/b', null, 10_000, new TestPoll());
    engine.acquire('ns/c', null, 10_000, new TestPoll());
    expect(engine.acquire('ns/d', null, 10_000, new TestPoll())).to.deep.equal({
      kind: 'denied',
      reason: 'queue_full',
    });
    // A holder already queued still gets its place.
    expect(engine.acquire('ns/b', null, 10_000, new TestPoll()).kind).to.equal('queued');
  });

  it('grants nothing while the gate is closed and catches up when it opens', () => {
    let reason: DenialReason | null = 'checks_failing';
    const { engine } = setup({ slots: 2, gate: () => reason });
    expect(engine.tryAcquire('legacy', 10_000)).to.deep.equal({ kind: 'denied', reason: 'checks_failing' });
    const pa = new TestPoll();
    const pb = new TestPoll();
    engine.acquire('ns/a', null, 10_000, pa);
    engine.acquire('ns/b', null, 10_000, pb);
    expect(engine.activeCount).to.equal(0);
    reason = null;
    engine.reconsider();
    expect([pa.lease?.holder, pb.lease?.holder]).to.deep.equal(['ns/a', 'ns/b']);
  });

  it('extends a lease from now and keeps it past its first expiry', () => {
    const { engine, clock } = setup();
    const { lease } = engine.acquire('ns/a', null, 5000, null) as { lease: Lease };
    clock.advance(4000);
    expect(engine.extend(lease.id, 5000)?.expiresAt).to.equal(clock.now() + 5000);
    clock.advance(4000);
    expect(engine.activeCount).to.equal(1);
    clock.advance(1000);
    expect(engine.activeCount).to.equal(0);
    expect(engine.extend(lease.id, 5000)).to.equal(null);
  });

  it('releases by holder for a Ready pod and drops a gone pod from the queue', () => {
    const { engine, released } = setup();
    engine.acquire('ns/a', null, 60_000, null);
    engine.acquire('ns/b', null, 60_000, new TestPoll());
    const pc = new TestPoll();
    engine.acquire('ns/c', null, 60_000, pc);
    expect(engine.releaseHolder('ns/b', 'pod_gone')).to.equal(false);
    expect(engine.position('ns/b')).to.equal(0);
    expect(engine.releaseHolder('ns/a', 'ready')).to.equal(true);
    expect(released).to.deep.equal([['ns/a', 'ready']]);
    expect(pc.lease?.holder).to.equal('ns/c');
  });

  it('passes the note of a probe or failed release on to listeners, and grants the next waiter', () => {
    const { engine } = setup({ slots: 1 });
    const notes: [string, ReleaseReason, string | undefined][] = [];
    engine.listen({ released: (l, r, _ms, note) => notes.push([l.holder, r, note?.detail]) });
    engine.acquire('ns/a', null, 60_000, null);
    const pb = new TestPoll();
    engine.acquire('ns/b', null, 60_000, pb);
    expect(
      engine.releaseHolder('ns/a', 'probe', { detail: 'app: readinessProbe tcpSocket → connected' }),
    ).to.equal(true);
    expect(pb.lease?.holder).to.equal('ns/b');
    expect(engine.releaseHolder('ns/b', 'failed', { detail: 'container app is CrashLoopBackOff' })).to.equal(
      true,
    );
    expect(notes).to.deep.equal([
      ['ns/a', 'probe', 'app: readinessProbe tcpSocket → connected'],
      ['ns/b', 'failed', 'container app is CrashLoopBackOff'],
    ]);
  });

  it('restores leases and queue order from a snapshot, dropping leases already expired', () => {
    const a = setup({ slots: 2 });
    a.engine.acquire('ns/long', null, 60_000, null);
    a.engine.acquire('ns/short', null, 1000, null);
    a.engine.acquire('ns/w1', null, 10_000, new TestPoll());
    a.engine.acquire('ns/w2', null, 10_000, new TestPoll());
    const snap = a.engine.snapshot();

    const b = setup({ slots: 2 });
    b.clock.advance(2000);
    expect(b.engine.restore(snap)).to.deep.equal({
      leases: 1,
      queued: 2,
      dropped: [{ holder: 'ns/short', kind: 'lease', why: 'expired' }],
    });
    expect(b.engine.leases().map((l) => l.holder)).to.deep.equal(['ns/long']);
    expect(b.engine.waiters().map((w) => w.holder)).to.deep.equal(['ns/w1', 'ns/w2']);
    // The free slot waits for the head to poll again.
    const p2 = new TestPoll();
    b.engine.acquire('ns/w2', null, 10_000, p2);
    expect(p2.lease).to.equal(null);
    expect(b.engine.acquire('ns/w1', null, 10_000, new TestPoll()).kind).to.equal('granted');
  });

  it('restores no more leases than --locks, keeping the oldest, and no more waiters than --max-queue', () => {
    const a = setup({ slots: 5 });
    for (const h of ['ns/l1', 'ns/l2', 'ns/l3', 'ns/l4', 'ns/l5']) {
      a.engine.acquire(h, null, 60_000, null);
      a.clock.advance(10);
    }
    for (const h of ['ns/w1', 'ns/w2', 'ns/w3']) a.engine.acquire(h, null, 10_000, new TestPoll());
    const snap = a.engine.snapshot();
    snap.leases.reverse(); // file order must not matter: the oldest grants are kept

    const b = setup({ slots: 2, maxQueue: 2 });
    const { dropped } = b.engine.restore(snap);
    expect(b.engine.leases().map((l) => [l.holder, l.slot])).to.deep.equal([
      ['ns/l1', 0],
      ['ns/l2', 1],
    ]);
    expect(b.engine.waiters().map((w) => w.holder)).to.deep.equal(['ns/w1', 'ns/w2']);
    expect(dropped).to.deep.include.members([
      { holder: 'ns/l3', kind: 'lease', why: 'over_capacity' },
      { holder: 'ns/l5', kind: 'lease', why: 'over_capacity' },
      { holder: 'ns/w3', kind: 'waiter', why: 'queue_full' },
    ]);
    expect(b.engine.activeCount).to.equal(2);
  });

  it('moves a restored lease whose slot is past --locks to a free slot', () => {
    const a = setup({ slots: 3 });
    a.engine.acquire('ns/a', null, 60_000, null);
    a.engine.acquire('ns/b', null, 60_000, null);
    a.engine.acquire('ns/c', null, 60_000, null);
    a.engine.release(a.engine.leaseOf('ns/a')!.id);
    const b = setup({ slots: 2 });
    b.engine.restore(a.engine.snapshot());
    expect(b.engine.leases().map((l) => l.slot)).to.deep.equal([0, 1]);
  });

  it("restores what was left of a waiter's grace, not a fresh one", () => {
    const a = setup({ slots: 1, graceMs: 10_000 });
    a.engine.acquire('ns/a', null, 60_000, null);
    const poll = new TestPoll();
    a.engine.acquire('ns/w', null, 10_000, poll);
    a.engine.endPoll('ns/w', poll); // its place lasts until +10 s
    a.clock.advance(4000);
    const snap = a.engine.snapshot();

    // The server is down for 5 s: 1 s of the grace is left when it is back.
    const b = setup({ slots: 1, graceMs: 10_000 });
    b.clock.advance(9000);
    b.engine.restore(snap);
    expect(b.engine.position('ns/w')).to.equal(1);
    b.clock.advance(1000);
    expect(b.engine.position('ns/w')).to.equal(0);

    // Down longer than the grace: the place is gone at once, and does not reserve the head.
    const c = setup({ slots: 1, graceMs: 10_000 });
    c.clock.advance(11_000);
    const { dropped } = c.engine.restore(snap);
    expect(dropped).to.deep.include({ holder: 'ns/w', kind: 'waiter', why: 'grace_expired' });
  });

  it('gives a waiter that was polling when saved one grace from the save, not from the restart', () => {
    const a = setup({ slots: 1, graceMs: 10_000 });
    a.engine.acquire('ns/a', null, 60_000, null);
    a.engine.acquire('ns/w', null, 10_000, new TestPoll());
    const snap = a.engine.snapshot();
    const b = setup({ slots: 1, graceMs: 10_000 });
    b.clock.advance(6000);
    b.engine.restore(snap);
    b.clock.advance(4000);
    expect(b.engine.position('ns/w')).to.equal(0);
  });

  it('hands a lease or a queue place only to the client that created it', () => {
    const { engine } = setup({ slots: 1 });
    const mine = 'client-aaaaaaaaaaaaaaaa';
    const granted = engine.acquire('ns/a', null, 60_000, null, mine);
    expect(granted.kind).to.equal('granted');
    // Someone who read the holder name from /v1/status: no lease, with or without a client value.
    expect(engine.acquire('ns/a', null, 60_000, null, 'client-bbbbbbbbbbbbbbbb').kind).to.equal('taken');
    expect(engine.acquire('ns/a', null, 60_000, null, null).kind).to.equal('taken');
    // The same client's retry gets its lease back.
    const again = engine.acquire('ns/a', null, 60_000, null, mine);
    expect(again.kind === 'granted' && again.lease.id).to.equal(
      granted.kind === 'granted' && granted.lease.id,
    );

    // A waiter's poll can be neither superseded nor hung up by another client.
    const victim = new TestPoll();
    engine.acquire('ns/w', null, 60_000, victim, mine);
    const thief = new TestPoll();
    expect(engine.acquire('ns/w', null, 60_000, thief, 'client-cccccccccccccccc').kind).to.equal('taken');
    engine.hangUp('ns/w', thief);
    expect(victim.supersededCount).to.equal(0);
    expect(engine.position('ns/w')).to.equal(1);
    engine.release(engine.leaseOf('ns/a')!.id);
    expect(victim.lease?.holder).to.equal('ns/w');
  });

  it('never hands a legacy request a lease whose name it shares (a restored or /v1 holder)', () => {
    const { engine } = setup({ slots: 2 });
    expect(engine.tryAcquire('legacy:10.0.0.1#1', 60_000).kind).to.equal('granted');
    expect(engine.tryAcquire('legacy:10.0.0.1#1', 60_000)).to.deep.equal({
      kind: 'denied',
      reason: 'locked',
    });
    expect(engine.activeCount).to.equal(1);
  });

  it('keeps the old behaviour for clients that send no client value', () => {
    const { engine } = setup({ slots: 1 });
    const first = engine.acquire('ns/a', null, 60_000, null);
    const second = engine.acquire('ns/a', null, 60_000, null);
    expect(
      first.kind === 'granted' && second.kind === 'granted' && first.lease.id === second.lease.id,
    ).to.equal(true);
  });

  it('grows and shrinks its slots', () => {
    const { engine } = setup({ slots: 1 });
    engine.acquire('ns/a', null, 60_000, null);
    const pb = new TestPoll();
    engine.acquire('ns/b', null, 60_000, pb);
    engine.resize(2);
    expect(pb.lease?.slot).to.equal(1);
  });
});

describe('lock engine: unleased start-ups', () => {
  it('holds a waiter back while held + unleased fill the slots, and grants it when the start-up ends', () => {
    const { engine, clock, ended, heldBack } = setup({ slots: 2 });
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
    const { engine, clock, ended } = setup({ clock: new SkewedClock(() => -3) });
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
    const { engine, clock } = setup({ slots: 1 });
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
    const { engine, clock } = setup({ slots: 2 });
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
    const { engine, clock } = setup({ slots: 3 });
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
    const { engine, clock } = setup({ slots: 1 });
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
