// The lease API's bearer token, from --token-file, followed as the file changes: a Kubernetes Secret
// mounted as a volume is rewritten in place when it is rotated, and a server that kept the token it
// started with would refuse every new pod until it was restarted. Nothing polls: the file is read
// again when a request brings a token that does not match (at most once a second), and when a request
// with the token finds it was last read over REFRESH_MS ago (so a leaked token stops too). After a
// change the previous token is still accepted for PREVIOUS_GRACE_MS, while the kubelet brings the new
// Secret to every pod.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';
import { ConfigError } from '../config/load.js';
import { readTokenFile } from '../config/token-file.js';
import type { Logger } from '../log.js';

export const MISMATCH_REREAD_MS = 1000;
export const REFRESH_MS = 30_000;
export const PREVIOUS_GRACE_MS = 120_000;

export class BearerToken {
  private current: Buffer;
  private previous: { digest: Buffer; until: number } | null = null;
  private readAt: number;
  /** The last read problem logged, so a file that stays broken is one warning, not one per request. */
  private lastProblem = '';

  private constructor(
    private readonly path: string,
    token: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.current = digest(token);
    this.readAt = clock.now();
  }

  /** Reads the file once; a missing, unreadable or empty file is bad usage (exit 2). */
  static async open(path: string, clock: Clock, log: Logger): Promise<BearerToken> {
    const token = readTokenFile(path);
    if (typeof token !== 'string') throw new ConfigError([`--token-file: ${token.problem}`]);
    return new BearerToken(path, token, clock, log);
  }

  /** Whether an `Authorization` header carries the token (or, just after a change, the previous one). */
  accepts(header: string | undefined): boolean {
    const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
    const presented = digest(m ? (m[1] as string).trim() : '');
    const now = this.clock.now();
    if (m && timingSafeEqual(presented, this.current)) {
      if (now - this.readAt < REFRESH_MS) return true;
      this.reread();
      return this.matches(presented);
    }
    if (this.previousMatches(presented, now)) return true;
    if (now - this.readAt < MISMATCH_REREAD_MS) return false;
    this.reread();
    return m !== null && this.matches(presented);
  }

  private matches(presented: Buffer): boolean {
    return timingSafeEqual(presented, this.current) || this.previousMatches(presented, this.clock.now());
  }

  private previousMatches(presented: Buffer, now: number): boolean {
    return (
      this.previous !== null && now < this.previous.until && timingSafeEqual(presented, this.previous.digest)
    );
  }

  private reread(): void {
    const token = readTokenFile(this.path);
    this.readAt = this.clock.now();
    if (typeof token !== 'string') {
      if (token.problem !== this.lastProblem)
        this.log.warn(
          { path: this.path, problem: token.problem },
          'token file unreadable: keeping the token in use',
        );
      this.lastProblem = token.problem;
      return;
    }
    this.lastProblem = '';
    const next = digest(token);
    if (timingSafeEqual(next, this.current)) return;
    this.previous = { digest: this.current, until: this.readAt + PREVIOUS_GRACE_MS };
    this.current = next;
    this.log.info(
      { path: this.path, previousAcceptedForSeconds: PREVIOUS_GRACE_MS / 1000 },
      'token file changed: new token in use',
    );
  }
}

/** Fixed-length digests, so comparing them takes the same time whatever was presented. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
