// The lease API's bearer token, from --token-file, followed as the file changes: a Kubernetes Secret
// mounted as a volume is rotated by swapping a symlink in its directory, and a server that kept the
// token it started with would refuse every new pod until it was restarted. The file is watched (its
// directory, so the swap is seen) and polled every POLL_MS in case the watch misses it; a request with
// a token that does not match looks at the file at once too, so a new token works the moment it is
// written. After a change the previous token is still accepted for PREVIOUS_GRACE_MS from the change,
// while the kubelet brings the new Secret to every pod.
import { createHash, timingSafeEqual } from 'node:crypto';
import { statSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock, TimerHandle } from '../clock.js';
import { ConfigError } from '../errors.js';
import { readTokenFile } from '../config/token-file.js';
import type { Logger } from '../log.js';

export const POLL_MS = 1000;
export const PREVIOUS_GRACE_MS = 120_000;

export interface TokenWatchOptions {
  /** Watch the file's directory for changes (off in tests that drive the poll by hand). */
  watch?: boolean;
}

export class BearerToken {
  private current: Buffer;
  private previous: { digest: Buffer; until: number } | null = null;
  /** The file's identity and times when last read: a different one means it may have changed. */
  private signature: string;
  /** When the file was last seen unchanged: a change found now happened after this. */
  private checkedAt: number;
  /** The last read problem logged, so a file that stays broken is one warning, not one per request. */
  private lastProblem = '';
  private poll: TimerHandle | null = null;
  private watcher: FSWatcher | null = null;

  private constructor(
    private readonly path: string,
    token: string,
    signature: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.current = digest(token);
    this.signature = signature;
    this.checkedAt = clock.now();
  }

  /** Reads the file once and starts following it; a file a client could not send is bad usage (exit 2). */
  static async open(
    path: string,
    clock: Clock,
    log: Logger,
    options: TokenWatchOptions = {},
  ): Promise<BearerToken> {
    const signature = signatureOf(path);
    const token = readTokenFile(path);
    if (typeof token !== 'string') throw new ConfigError([`--token-file: ${token.problem}`]);
    const bearer = new BearerToken(path, token, signature, clock, log);
    bearer.follow(options.watch ?? true);
    return bearer;
  }

  /** Whether an `Authorization` header carries the token (or, just after a change, the previous one). */
  accepts(header: string | undefined): boolean {
    const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
    if (!m) return false;
    const presented = digest((m[1] as string).trim());
    if (this.matches(presented)) return true;
    // Perhaps the file was just rotated and the watch has not told us yet: a stat, and a read only
    // if the file is not the one read last.
    return this.check() && this.matches(presented);
  }

  /** Stops watching and polling the file. */
  close(): void {
    this.poll?.cancel();
    this.poll = null;
    this.watcher?.close();
    this.watcher = null;
  }

  private follow(useWatch: boolean): void {
    const tick = () => {
      this.check();
      this.poll = this.clock.setTimer(POLL_MS, tick);
    };
    this.poll = this.clock.setTimer(POLL_MS, tick);
    if (!useWatch) return;
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, () => this.check());
      this.watcher.on('error', () => {
        // The poll goes on; a watch that broke (directory gone, inotify limit) is not needed for it.
        this.watcher?.close();
        this.watcher = null;
      });
    } catch {
      this.watcher = null;
    }
  }

  private matches(presented: Buffer): boolean {
    if (timingSafeEqual(presented, this.current)) return true;
    const prev = this.previous;
    return prev !== null && this.clock.now() < prev.until && timingSafeEqual(presented, prev.digest);
  }

  /** Reads the file again if it changed; true when the token in use changed. */
  private check(): boolean {
    const now = this.clock.now();
    const signature = signatureOf(this.path);
    if (signature === this.signature) {
      this.checkedAt = now;
      return false;
    }
    // A broken file is read once, not again until it changes.
    this.signature = signature;
    const token = readTokenFile(this.path);
    if (typeof token !== 'string') {
      if (token.problem !== this.lastProblem)
        this.log.warn(
          { path: this.path, problem: token.problem },
          'token file unreadable: keeping the token in use',
        );
      this.lastProblem = token.problem;
      return false;
    }
    this.lastProblem = '';
    const changedAt = Math.min(now, Math.max(this.checkedAt, mtimeOf(this.path) ?? now));
    this.checkedAt = now;
    const next = digest(token);
    if (timingSafeEqual(next, this.current)) return false;
    this.previous = { digest: this.current, until: changedAt + PREVIOUS_GRACE_MS };
    this.current = next;
    this.log.info(
      {
        path: this.path,
        previousAcceptedForSeconds: Math.round((changedAt + PREVIOUS_GRACE_MS - now) / 1000),
      },
      'token file changed: new token in use',
    );
    return true;
  }
}

/** What changes when the file is rewritten or its Secret's symlink is swapped. */
function signatureOf(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (err) {
    return `unreadable:${(err as NodeJS.ErrnoException).code ?? ''}`;
  }
}

function mtimeOf(path: string): number | null {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/** Fixed-length digests, so comparing them takes the same time whatever was presented. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
