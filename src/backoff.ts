// Capped exponential backoff with jitter, for a lock server that is restarting: many init containers on
// one node must not reconnect in lock-step. Randomness is injected so tests are exact.

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 200,
    private readonly capMs = 5000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The next delay: between half and all of min(cap, base·2^n). */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    if (ceiling < this.capMs) this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
