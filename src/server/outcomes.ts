// What both request paths (legacy and long poll) do with the engine's answer: count a refusal, and
// answer a grant only once it is durable.
import type { LockEngine } from '../lock/engine.js';
import type { DenialReason, Lease } from '../lock/types.js';

export interface OutcomeOptions {
  engine: Pick<LockEngine, 'release'>;
  denials: { labels(labels: { reason: DenialReason }): { inc(): void } };
  /**
   * With --state-file: resolves once every change so far is on disk, rejects if that write failed.
   * A grant is answered only after it: a kill right after the answer must not lose the lease.
   */
  saved?: () => Promise<void>;
}

export class Outcomes {
  // The 423 path runs once a second per waiting legacy pod: count on pre-bound children, no label hashing.
  private readonly denied = new Map<DenialReason, { inc(): void }>();

  constructor(private readonly opts: OutcomeOptions) {}

  /** Count one refusal (`startup_lock_lease_denials_total{reason}`). */
  deny(reason: DenialReason): void {
    let counter = this.denied.get(reason);
    if (!counter) this.denied.set(reason, (counter = this.opts.denials.labels({ reason })));
    counter.inc();
  }

  /**
   * Answer a grant once the state file holds it. If that write failed the lease is released and the
   * client told to come back (it was never durable); the failed write also holds further grants
   * (the gate says not_ready) until a write succeeds, so the queue is not churned through.
   */
  durably(lease: Lease, answer: () => void, fail: () => void): void {
    if (!this.opts.saved) return answer();
    this.opts.saved().then(answer, () => {
      this.opts.engine.release(lease.id, 'released');
      this.deny('not_ready');
      fail();
    });
  }
}
