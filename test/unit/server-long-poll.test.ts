// The long poll (POST /v1/leases) without a process: a real engine on a fake clock, fake req/res.
import { expect } from 'chai';
import type { Lease } from '../../src/lock/types.js';
import { LongPolls, type LeaseAsk } from '../../src/server/long-poll.js';
import { asRequest, FakeResponse, fakeRequest, hangUp } from '../support/fake-http.js';
import { lockEdge, type EdgeOptions } from '../support/lock-edge.js';

function setup(opts: EdgeOptions = {}) {
  const edge = lockEdge(opts);
  const { engine, outcomes, clock, gate } = edge;
  let draining = false;
  const polls = new LongPolls({ engine, outcomes, gate, clock, draining: () => draining });
  const poll = (holder: string, waitMs = 20_000, client: string | null = null) => {
    const ask: LeaseAsk = { holder, uid: null, client, durationMs: 30_000, waitMs };
    const req = fakeRequest(`/v1/leases?holder=${holder}`, 'POST');
    const res = new FakeResponse();
    polls.serve(ask, asRequest(req), res.res);
    return { req, res };
  };
  return { ...edge, polls, poll, drain: () => (draining = true) };
}

describe('long poll (POST /v1/leases)', () => {
  it('answers 200 with the lease at once when a slot is free', () => {
    const { poll, polls } = setup();
    const { res } = poll('ns/a');
    expect(res.statusCode).to.equal(200);
    expect(res.headers['content-type']).to.equal('application/json; charset=utf-8');
    expect(res.headers['content-length']).to.equal(String(Buffer.byteLength(res.body)));
    expect(res.json()).to.include({ id: 'lease-1', holder: 'ns/a', slot: 0 });
    expect(res.json().expiresAt).to.equal(new Date(Date.UTC(2026, 0, 1) + 30_000).toISOString());
    expect(polls.count).to.equal(0);
  });

  it('holds the request open and grants the waiter as soon as the holder releases', () => {
    const { poll, polls, engine, denied } = setup();
    poll('ns/a');
    const { res } = poll('ns/b');
    expect(res.ends).to.equal(0);
    expect(polls.count).to.equal(1);
    engine.release('lease-1' as Lease['id']);
    expect(res.statusCode).to.equal(200);
    expect(res.json()).to.include({ id: 'lease-2', holder: 'ns/b' });
    expect(res.ends).to.equal(1);
    expect(polls.count).to.equal(0);
    expect(denied).to.deep.equal([]);
  });

  it('answers 423 timeout with Retry-After when the wait runs out, and keeps the queue place', () => {
    const { poll, clock, engine, denied, polls } = setup();
    poll('ns/a');
    const { res } = poll('ns/b', 5_000);
    clock.advance(4_999);
    expect(res.ends).to.equal(0);
    clock.advance(1);
    expect(res.statusCode).to.equal(423);
    expect(res.headers['retry-after']).to.equal('1');
    expect(res.json()).to.deep.equal({ position: 1, queueLength: 1, reason: 'timeout' });
    expect(engine.position('ns/b')).to.equal(1);
    expect(denied).to.deep.equal(['timeout']);
    expect(polls.count).to.equal(0);
  });

  it('gives the gate as the reason when the wait runs out while grants are held back', () => {
    const { poll, clock, closeGate } = setup();
    poll('ns/a');
    const { res } = poll('ns/b', 1_000);
    closeGate('checks_failing');
    clock.advance(1_000);
    expect(res.json()).to.include({ reason: 'checks_failing' });
  });

  it('takes a waiter whose connection closes out of the queue at once, and never answers it', () => {
    const { poll, engine, polls, clock } = setup();
    poll('ns/a');
    const { req, res } = poll('ns/b');
    hangUp(req, res);
    expect(engine.queueLength).to.equal(0);
    expect(polls.count).to.equal(0);
    engine.release('lease-1' as Lease['id']);
    clock.advance(60_000);
    expect(res.ends).to.equal(0);
    expect(engine.activeCount).to.equal(0);
  });

  it('answers 423 locked at once for wait=0, with the queue position', () => {
    const { poll, denied, polls } = setup();
    poll('ns/a');
    const { res } = poll('ns/b', 0);
    expect(res.statusCode).to.equal(423);
    expect(res.json()).to.deep.equal({ position: 1, queueLength: 1, reason: 'locked' });
    expect(polls.count).to.equal(0);
    expect(denied).to.deep.equal(['locked']);
  });

  it('answers the older poll of a holder 423 when a newer one takes its place', () => {
    const { poll } = setup();
    poll('ns/a');
    const first = poll('ns/b');
    const second = poll('ns/b');
    expect(first.res.statusCode).to.equal(423);
    expect(first.res.json()).to.include({ reason: 'locked', position: 1 });
    expect(second.res.ends).to.equal(0);
  });

  it('answers every open poll 423 draining with Retry-After 2 at shutdown, and new ones at once', () => {
    const { poll, polls, drain, engine } = setup({ slots: 1 });
    poll('ns/a');
    const waiting = [poll('ns/b'), poll('ns/c')];
    drain();
    polls.answerAll();
    for (const { res } of waiting) {
      expect(res.statusCode).to.equal(423);
      expect(res.headers['retry-after']).to.equal('2');
      expect(res.json()).to.include({ reason: 'draining' });
    }
    expect(polls.count).to.equal(0);
    const late = poll('ns/d');
    expect(late.res.json()).to.deep.equal({ position: 0, queueLength: 2, reason: 'draining' });
    expect(engine.position('ns/d')).to.equal(0);
  });

  it('answers 409 taken to another client asking under a held name, without its lease', () => {
    const { poll } = setup();
    poll('ns/a', 20_000, 'client-one-0123456789');
    const { res } = poll('ns/a', 20_000, 'client-two-0123456789');
    expect(res.statusCode).to.equal(409);
    expect(res.json()).to.include({ reason: 'taken' });
    expect(res.body).not.to.include('lease-1');
  });

  it('answers 429 queue_full with Retry-After 5 beyond --max-queue', () => {
    const { poll, denied } = setup({ maxQueue: 1 });
    poll('ns/a');
    poll('ns/b');
    const { res } = poll('ns/c');
    expect(res.statusCode).to.equal(429);
    expect(res.headers['retry-after']).to.equal('5');
    expect(res.json()).to.deep.equal({ position: 0, queueLength: 1, reason: 'queue_full' });
    expect(denied).to.deep.equal(['queue_full']);
  });

  it('answers a grant only once the state file holds it', async () => {
    let save!: () => void;
    const { poll } = setup({ saved: () => new Promise<void>((resolve) => (save = resolve)) });
    const { res } = poll('ns/a');
    expect(res.ends).to.equal(0);
    save();
    await Promise.resolve();
    expect(res.statusCode).to.equal(200);
  });

  it('releases a grant the state file could not hold and answers 503 not_ready', async () => {
    const { poll, engine, denied } = setup({ saved: () => Promise.reject(new Error('disk full')) });
    const { res } = poll('ns/a');
    await new Promise((resolve) => setImmediate(resolve));
    expect(res.statusCode).to.equal(503);
    expect(res.headers['retry-after']).to.equal('1');
    expect(res.json()).to.include({ reason: 'not_ready' });
    expect(engine.activeCount).to.equal(0);
    expect(denied).to.deep.equal(['not_ready']);
  });
});
