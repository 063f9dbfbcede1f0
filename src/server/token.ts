// The lease API's bearer token, from --token-file, followed as the file changes: a Kubernetes Secret
// mounted as a volume is rewritten in place when it is rotated, and a server that kept the token it
// started with would refuse every new pod until it was restarted. Nothing polls: the file is read
// again when a request brings a token that does not match (at most once a second), and in the
// background when it was last read more than REFRESH_MS ago. After a change the previous token is
// still accepted for PREVIOUS_GRACE_MS, while the kubelet brings the new Secret to every pod.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Clock } from '../clock.js';
import { ConfigError } from '../config/load.js';
import type { Logger } from '../log.js';

export const MISMATCH_REREAD_MS = 1000;
export const REFRESH_MS = 30_000;
export const PREVIOUS_GRACE_MS = 120_000;

export class BearerToken {
  private current: Buffer;
  private previous: { digest: Buffer; until: number } | null = null;
  private readAt: number;
  private reading: Promise<void> | null = null;
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
    const read = await readToken(path);
    if (typeof read !== 'string') throw new ConfigError([`--token-file: ${read.problem}`]);
    return new BearerToken(path, read, clock, log);
  }

  /** Whether an `Authorization` header carries the token (or, just after a change, the previous one). */
  async accepts(header: string | undefined): Promise<boolean> {
    const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
    const presented = digest(m ? (m[1] as string).trim() : '');
    const now = this.clock.now();
    if (m && timingSafeEqual(presented, this.current)) {
      if (now - this.readAt >= REFRESH_MS) void this.reread();
      return true;
    }
    if (m && this.previous && now < this.previous.until && timingSafeEqual(presented, this.previous.digest))
      return true;
    if (now - this.readAt < MISMATCH_REREAD_MS) return false;
    await this.reread();
    return m !== null && timingSafeEqual(presented, this.current);
  }

  /** One read at a time; callers arriving meanwhile wait for it. */
  private reread(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = null));
    return this.reading;
  }

  private async read(): Promise<void> {
    const read = await readToken(this.path);
    this.readAt = this.clock.now();
    if (typeof read !== 'string') {
      if (read.problem !== this.lastProblem)
        this.log.warn(
          { path: this.path, problem: read.problem },
          'token file unreadable: keeping the token in use',
        );
      this.lastProblem = read.problem;
      return;
    }
    this.lastProblem = '';
    const next = digest(read);
    if (timingSafeEqual(next, this.current)) return;
    this.previous = { digest: this.current, until: this.readAt + PREVIOUS_GRACE_MS };
    this.current = next;
    this.log.info(
      { path: this.path, previousAcceptedForSeconds: PREVIOUS_GRACE_MS / 1000 },
      'token file changed: new token in use',
    );
  }
}

async function readToken(path: string): Promise<string | { problem: string }> {
  let token: string;
  try {
    token = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    return { problem: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}` };
  }
  return token === '' ? { problem: `${path} is empty` } : token;
}

/** Fixed-length digests, so comparing them takes the same time whatever was presented. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
