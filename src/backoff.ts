// Capped exponential backoff with jitter, for a peer that may be restarting (the lock server, the
// Kubernetes API): many clients must not retry in lock-step. Randomness is injected so tests are exact.
// Imports nothing: the acquire client bundles it.

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 200,
    private readonly capMs = 5000,
    private readonly random: () => number = Math.random,
  ) {}

  /** Retries since the last reset(). */
  get failures(): number {
    return this.attempt;
  }

  /** The next delay in whole ms: between half and all of min(cap, base·2^n), n counting from 0. */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
