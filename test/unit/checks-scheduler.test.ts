import { expect } from 'chai';
import { down, UP, type Probe, type ProbeResult } from '../../src/checks/probe.js';
import { CheckScheduler } from '../../src/checks/scheduler.js';
import type { CheckState } from '../../src/checks/types.js';
import { ManualClock, settle } from '../support/fake-clock.js';

const SEC = 1000;

/** A probe whose answers the test scripts; it records when it was called and its signal. */
class ScriptedProbe {
  calls: { at: number; signal: AbortSignal }[] = [];
  private answers: Array<ProbeResult | 'hang'> = [];
  fallback: ProbeResult = UP;

  constructor(private readonly clock: ManualClock) {}

  then(...answers: Array<ProbeResult | 'hang'>): this {
    this.answers.push(...answers);
    return this;
  }

  probe: Probe = (_target, signal) => {
    this.calls.push({ at: this.clock.now(), signal });
    const answer = this.answers.shift() ?? this.fallback;
    if (answer !== 'hang') return Promise.resolve(answer);
    // Like a socket that never answers: only the abort ends it.
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(down('aborted'))));
  };
}

function setup(probes: Record<string, ScriptedProbe>, clock: ManualClock) {
  const changes: CheckState[] = [];
  const probesSeen: Array<{ target: string; up: boolean; durationMs: number }> = [];
  const scheduler = new CheckScheduler({
    targets: Object.keys(probes),
    failHcMs: 2 * SEC,
    passHcMs: 10 * SEC,
    timeoutMs: 1 * SEC,
    clock,
    probeFor: (target) => probes[target]!.probe,
    observer: {
      onChange: (s) => changes.push(s),
      onProbe: (target, up, durationMs) => probesSeen.push({ target, up, durationMs }),
    },
  });
  return { scheduler, changes, probesSeen };
}

describe('CheckScheduler', () => {
  let clock: ManualClock;
  let scheduler: CheckScheduler | undefined;

  beforeEach(() => {
    clock = new ManualClock();
  });
  afterEach(async () => {
    await scheduler?.close();
    scheduler = undefined;
  });

  it('is open when no checks are configured', () => {
    scheduler = setup({}, clock).scheduler;
    expect(scheduler.allUp()).to.equal(true);
    expect(scheduler.states()).to.deep.equal([]);
  });

  it('keeps the gate closed until every check has finished once', async () => {
    const db = new ScriptedProbe(clock).then(UP);
    const api = new ScriptedProbe(clock).then('hang');
    ({ scheduler } = setup({ 'tcp://db:5432': db, 'http://api/healthz': api }, clock));
    expect(scheduler.allUp()).to.equal(false);
    scheduler.start();
    await settle();
    expect(scheduler.states().map((s) => s.checked)).to.deep.equal([true, false]);
    expect(scheduler.allUp()).to.equal(false);
    await clock.advance(1 * SEC); // the hanging probe times out: down, still closed
    expect(scheduler.allUp()).to.equal(false);
    await clock.advance(2 * SEC); // retried after --failHc, answers up this time
    expect(scheduler.allUp()).to.equal(true);
  });

  it('re-checks after --passHc when up and after --failHc when down, each check on its own timer', async () => {
    const a = new ScriptedProbe(clock).then(UP, UP);
    const b = new ScriptedProbe(clock).then(down('HTTP 503'), down('HTTP 503'), UP);
    ({ scheduler } = setup({ a, b } as unknown as Record<string, ScriptedProbe>, clock));
    const t0 = clock.now();
    scheduler.start();
    await clock.advance(25 * SEC);
    expect(a.calls.map((c) => c.at - t0)).to.deep.equal([0, 10 * SEC, 20 * SEC]);
    expect(b.calls.map((c) => c.at - t0)).to.deep.equal([0, 2 * SEC, 4 * SEC, 14 * SEC, 24 * SEC]);
  });

  it('closes the gate while any check is down and reopens when it recovers', async () => {
    const a = new ScriptedProbe(clock).then(UP, down('ECONNREFUSED'), UP);
    ({ scheduler } = setup({ 'tcp://127.0.0.1:1': a }, clock));
    scheduler.start();
    await settle();
    expect(scheduler.allUp()).to.equal(true);
    await clock.advance(10 * SEC);
    expect(scheduler.allUp()).to.equal(false);
    await clock.advance(2 * SEC);
    expect(scheduler.allUp()).to.equal(true);
  });

  it('tells the observer about every probe but about a state only when it changes', async () => {
    const a = new ScriptedProbe(clock).then(down('HTTP 503'), down('HTTP 503'), down('HTTP 500'), UP, UP);
    let changes: CheckState[];
    let probesSeen: Array<{ up: boolean }>;
    ({ scheduler, changes, probesSeen } = setup({ 'http://x/': a }, clock));
    scheduler.start();
    await clock.advance(30 * SEC);
    expect(probesSeen.map((p) => p.up)).to.deep.equal([false, false, false, true, true, true]);
    expect(changes.map((c) => [c.up, c.lastError])).to.deep.equal([
      [false, 'HTTP 503'],
      [true, 'HTTP 500'],
    ]);
    expect(changes[1]!.lastChange).to.equal(clock.now() - 30 * SEC + 6 * SEC);
  });

  it('records when the state last changed and the last error, and reports copies', async () => {
    const a = new ScriptedProbe(clock).then(UP, down('ECONNRESET'));
    ({ scheduler } = setup({ 'tcp://h:1': a }, clock));
    const t0 = clock.now();
    scheduler.start();
    await clock.advance(11 * SEC);
    const [state] = scheduler.states();
    expect(state).to.deep.equal({
      target: 'tcp://h:1',
      up: false,
      checked: true,
      lastError: 'ECONNRESET',
      lastChange: t0 + 10 * SEC,
      lastCheck: t0 + 10 * SEC,
    });
    state!.up = true;
    expect(scheduler.allUp()).to.equal(false);
  });

  it('counts a probe that outlives --check-timeout as down and aborts it', async () => {
    const a = new ScriptedProbe(clock).then('hang');
    let probesSeen: Array<{ up: boolean; durationMs: number }>;
    ({ scheduler, probesSeen } = setup({ 'tcp://h:1': a }, clock));
    scheduler.start();
    await clock.advance(999);
    expect(scheduler.states()[0]!.checked).to.equal(false);
    await clock.advance(1);
    expect(a.calls[0]!.signal.aborted).to.equal(true);
    expect(scheduler.states()[0]).to.include({ up: false, checked: true, lastError: 'aborted' });
    expect(probesSeen[0]).to.deep.equal({ target: 'tcp://h:1', up: false, durationMs: 1000 });
  });

  it('treats a late "up" from a probe that ignored the abort as a timeout', async () => {
    let release: (r: ProbeResult) => void = () => {};
    const stubborn: Probe = () => new Promise((resolve) => (release = resolve));
    scheduler = new CheckScheduler({
      targets: ['tcp://h:1'],
      failHcMs: 2 * SEC,
      passHcMs: 10 * SEC,
      timeoutMs: SEC,
      clock,
      probeFor: () => stubborn,
    });
    scheduler.start();
    await clock.advance(SEC + 500);
    release(UP);
    await settle();
    expect(scheduler.states()[0]).to.include({ up: false, lastError: 'timed out after 1000ms' });
  });

  it('counts a probe that throws as down instead of stopping the schedule', async () => {
    let calls = 0;
    const thrower: Probe = () => {
      calls++;
      return Promise.reject(new Error('boom'));
    };
    scheduler = new CheckScheduler({
      targets: ['http://h/'],
      failHcMs: 2 * SEC,
      passHcMs: 10 * SEC,
      timeoutMs: SEC,
      clock,
      probeFor: () => thrower,
    });
    scheduler.start();
    await clock.advance(4 * SEC);
    expect(calls).to.equal(3);
    expect(scheduler.states()[0]).to.include({ up: false, lastError: 'boom' });
  });

  it('stops every timer and aborts probes in flight on close, and closes its resources', async () => {
    const a = new ScriptedProbe(clock).then(UP);
    const b = new ScriptedProbe(clock).then('hang');
    let closed = 0;
    scheduler = new CheckScheduler({
      targets: ['a', 'b'],
      failHcMs: 2 * SEC,
      passHcMs: 10 * SEC,
      timeoutMs: 60 * SEC,
      clock,
      probeFor: (t) => (t === 'a' ? a.probe : b.probe),
      resources: [{ close: () => void closed++ }],
    });
    scheduler.start();
    scheduler.start(); // idempotent: no second round of probes
    await settle();
    expect(a.calls).to.have.length(1);
    await scheduler.close();
    expect(b.calls[0]!.signal.aborted).to.equal(true);
    expect(closed).to.equal(1);
    await settle();
    expect(clock.pending()).to.equal(0);
    await clock.advance(120 * SEC);
    expect(a.calls).to.have.length(1);
    expect(b.calls).to.have.length(1);
  });
});
