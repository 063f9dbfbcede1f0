// Clocks the test moves by hand: timers fire in due order when advance() passes their due time.
// FakeClock is synchronous, for pure code (the lock engine); ManualClock also lets the promise chains
// each timer starts settle before the next fires, for async code (probes, the client, Lease calls).
import type { Clock, TimerHandle } from '../../src/clock.js';

interface Timer {
  due: number;
  seq: number;
  fn: () => void;
}

/** Lets pending promise chains (probes resolving, awaits in the code under test) run to completion. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export class FakeClock implements Clock {
  private timers: Timer[] = [];
  private seq = 0;

  constructor(protected current = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: Timer = { due: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return { cancel: () => void (this.timers = this.timers.filter((t) => t !== timer)) };
  }

  /** Timers not yet fired. */
  pending(): number {
    return this.timers.length;
  }

  /** Move time forward, firing every timer that falls due on the way, in due order. */
  advance(ms: number): void {
    const target = this.current + ms;
    while (this.fireNext(target));
    this.current = target;
  }

  /** Fire the earliest timer due by `target`; false when there is none. */
  protected fireNext(target: number): boolean {
    const next = this.timers.filter((t) => t.due <= target).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
    if (!next) return false;
    this.timers = this.timers.filter((t) => t !== next);
    this.current = Math.max(this.current, next.due);
    next.fn();
    return true;
  }
}

/**
 * A FakeClock whose timers fire off their due time by `skew(ms)` milliseconds (negative: early), as
 * real timers do: Node's run on the loop's cached clock and can fire before Date.now() reaches their
 * deadline, and any timer can fire late on a busy machine.
 */
export class SkewedClock extends FakeClock {
  constructor(private readonly skew: (ms: number) => number) {
    super();
  }

  override setTimer(ms: number, fn: () => void): TimerHandle {
    // Like setTimeout, a timer takes at least 1 ms, however early it fires.
    return super.setTimer(Math.max(1, ms + this.skew(ms)), fn);
  }
}

export class ManualClock extends FakeClock {
  constructor(start = 1_700_000_000_000) {
    super(start);
  }

  override async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    while (this.fireNext(target)) await settle();
    this.current = target;
  }
}
