// A real lock engine on a fake clock with the server's Outcomes, for driving the request paths
// (legacy.ts, long-poll.ts) in unit tests: the gate is set by hand, denials are recorded in order.
import { LockEngine } from '../../src/lock/engine.js';
import type { DenialReason, Lease } from '../../src/lock/types.js';
import { Outcomes } from '../../src/server/outcomes.js';
import { FakeClock } from './fake-clock.js';

export interface EdgeOptions {
  slots?: number;
  maxQueue?: number;
  /** Why grants are held back from the start (null: they are not). */
  gate?: DenialReason | null;
  saved?: () => Promise<void>;
}

export function lockEdge(opts: EdgeOptions = {}) {
  const clock = new FakeClock();
  let n = 0;
  let gate = opts.gate ?? null;
  const engine = new LockEngine({
    slots: opts.slots ?? 1,
    maxQueue: opts.maxQueue ?? 100,
    queueGraceMs: 10_000,
    clock,
    newId: () => `lease-${++n}` as Lease['id'],
    gate: () => gate,
  });
  const denied: DenialReason[] = [];
  const outcomes = new Outcomes({
    engine,
    denials: { labels: ({ reason }) => ({ inc: () => denied.push(reason) }) },
    saved: opts.saved,
  });
  return {
    clock,
    engine,
    outcomes,
    denied,
    gate: () => gate,
    closeGate: (reason: DenialReason) => (gate = reason),
  };
}
