// Leases and queue order on disk, so a restart of the server (a DaemonSet rolling update) does not
// release a herd. Writes are atomic: write a temp file, fsync, rename, fsync the directory. Writes are
// coalesced: a burst of grants costs one write, and a grant is answered once the write holding it is
// done (saved()). A corrupt or unreadable file is logged and ignored; absurd entries are dropped.
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { Clock, TimerHandle } from '../clock.js';
import type { Lease, SavedWaiter, Snapshot } from '../lock/types.js';
import type { Logger } from '../log.js';
import { OperationalError } from '../errors.js';

/** After a failed write, try again this soon even if nothing changes (grants wait until one succeeds). */
const RETRY_MS = 1000;

interface SaveWaiter {
  upTo: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface StateFileEvents {
  /** A write failed (metric, readiness, grants held). */
  failed(err: Error): void;
  /** A write succeeded after one or more failures. */
  recovered(): void;
}

export class StateFile {
  /** Changes noted so far, and how many of them are on disk: a grant waits for its number. */
  private noted = 0;
  private onDisk = 0;
  private writing: Promise<void> | null = null;
  private waiters: SaveWaiter[] = [];
  private failing: Error | null = null;
  private retry: TimerHandle | null = null;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => Snapshot,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly events: StateFileEvents = { failed: () => undefined, recovered: () => undefined },
  ) {}

  /** The last write failed and none has succeeded since. */
  get healthy(): boolean {
    return this.failing === null;
  }

  /**
   * Remove temp files a killed writer left behind (the name carries its pid, so a new process never
   * overwrites them), then check the file can be written: exit 1 at start rather than run without
   * the persistence the operator asked for.
   */
  async prepare(): Promise<void> {
    const dir = dirname(this.path);
    const stale = new RegExp(`^\\.${escapeRegExp(basename(this.path))}\\.\\d+\\.tmp$`);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      throw new OperationalError(`--state-file: cannot read the directory ${dir}: ${errorText(err)}`);
    }
    for (const name of names.filter((n) => stale.test(n))) {
      await unlink(join(dir, name)).catch(() => undefined);
      this.log.info({ file: join(dir, name) }, 'removed a temp state file left by a killed server');
    }
  }

  /** Write the current state now; exit-worthy if it fails (start-up). */
  async checkWritable(): Promise<void> {
    try {
      await this.write(JSON.stringify(this.snapshot()));
    } catch (err) {
      throw new OperationalError(`--state-file: cannot write ${this.path}: ${errorText(err)}`);
    }
  }

  async load(): Promise<Snapshot | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn({ err: errorText(err), path: this.path }, 'state file unreadable, starting empty');
      }
      return null;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      this.log.warn({ err: errorText(err), path: this.path }, 'state file corrupt, ignoring it');
      return null;
    }
    const { snapshot, problems } = checkSnapshot(parsed, this.clock.now());
    if (snapshot === null) {
      this.log.warn({ err: problems[0], path: this.path }, 'state file corrupt, ignoring it');
      return null;
    }
    for (const problem of problems) {
      this.log.warn({ problem, path: this.path }, 'state file entry dropped');
    }
    return snapshot;
  }

  /** Note that the state changed; a write follows soon (never more than one in flight). */
  markDirty(): void {
    this.noted++;
    this.writing ??= this.drain();
  }

  /** Resolves once every change noted so far is on disk; rejects if the write meant to hold it fails. */
  saved(): Promise<void> {
    if (this.onDisk >= this.noted) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ upTo: this.noted, resolve, reject }));
  }

  /** Write everything noted so far; throws if the state on disk is not current (the final save). */
  async flush(): Promise<void> {
    this.retry?.cancel();
    this.markDirty();
    while (this.writing) await this.writing;
    if (this.failing)
      throw new OperationalError(`final save of ${this.path} failed: ${this.failing.message}`);
  }

  /** Stop retrying a failed write (shutdown). */
  close(): void {
    this.retry?.cancel();
  }

  private async drain(): Promise<void> {
    // Let the current burst of changes land first: one write for many grants.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.onDisk < this.noted) {
      const upTo = this.noted;
      try {
        await this.write(JSON.stringify(this.snapshot()));
      } catch (err) {
        this.fail(err as Error, upTo);
        break;
      }
      this.onDisk = upTo;
      this.settle(upTo, null);
      if (this.failing) {
        this.failing = null;
        this.log.info({ path: this.path }, 'state file written again');
        this.events.recovered();
      }
    }
    this.writing = null;
  }

  private fail(err: Error, upTo: number): void {
    this.failing = err;
    this.log.error({ err: err.message, path: this.path }, 'state file write failed');
    this.events.failed(err);
    // Changes up to here are not on disk; their grants are refused. A retry soon brings the file back
    // in line even if nothing else changes.
    this.onDisk = upTo;
    this.settle(upTo, err);
    this.retry?.cancel();
    this.retry = this.clock.setTimer(RETRY_MS, () => {
      this.retry = null;
      this.noted++;
      this.writing ??= this.drain();
    });
  }

  private settle(upTo: number, err: Error | null): void {
    const done = this.waiters.filter((w) => w.upTo <= upTo);
    this.waiters = this.waiters.filter((w) => w.upTo > upTo);
    for (const w of done) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  private async write(content: string): Promise<void> {
    const dir = dirname(this.path);
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.tmp`);
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(content);
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(tmp, this.path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } catch {
      // Some filesystems refuse fsync on a directory; the rename is still atomic.
    } finally {
      await dirHandle.close();
    }
  }
}

// Bounds for entries read back: a file edited by hand, written by a buggy version or by someone else
// must not crash the status page (dates past year 275760 throw) or restore an unbounded queue.
const MAX_LEASES = 1000; // --locks at most
const MAX_QUEUE = 100_000; // --max-queue at most
const DAY = 86_400_000;
const MAX_HOLD_AHEAD = 25 * 24 * 3_600_000; // --max-duration at most 24 h, with slack for extensions
const MAX_AGE = 366 * DAY;
const MAX_TEXT = 320;

/**
 * The snapshot in `value`, with every entry that is out of range left out and named in `problems`;
 * snapshot is null when the file is not a startup-lock state at all.
 */
export function checkSnapshot(
  value: unknown,
  now: number,
): { snapshot: Snapshot | null; problems: string[] } {
  if (typeof value !== 'object' || value === null) return { snapshot: null, problems: ['not an object'] };
  const v = value as Record<string, unknown>;
  if (v.version !== 1 || !Array.isArray(v.leases) || !Array.isArray(v.queue)) {
    return { snapshot: null, problems: ['not a startup-lock state (version 1)'] };
  }
  const problems: string[] = [];
  const time = (t: unknown, min: number, max: number): t is number =>
    typeof t === 'number' && Number.isInteger(t) && t >= min && t <= max;
  const text = (s: unknown): s is string => typeof s === 'string' && s.length > 0 && s.length <= MAX_TEXT;
  const optText = (s: unknown): s is string | null | undefined => s === null || s === undefined || text(s);
  const savedAt = time(v.savedAt, now - MAX_AGE, now + DAY) ? v.savedAt : now;

  const leases: Lease[] = [];
  if (v.leases.length > MAX_LEASES)
    problems.push(`${v.leases.length - MAX_LEASES} leases past ${MAX_LEASES}`);
  for (const [i, raw] of v.leases.slice(0, MAX_LEASES).entries()) {
    const l = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const ok =
      text(l.id) &&
      text(l.holder) &&
      optText(l.uid) &&
      optText(l.client) &&
      typeof l.slot === 'number' &&
      Number.isInteger(l.slot) &&
      l.slot >= 0 &&
      l.slot < MAX_LEASES &&
      (l.api === 'legacy' || l.api === 'v1') &&
      time(l.grantedAt, now - MAX_AGE, now + DAY) &&
      time(l.expiresAt, l.grantedAt, now + MAX_HOLD_AHEAD);
    if (!ok) {
      problems.push(`lease #${i}: out of range or mistyped (${clipJson(raw)})`);
      continue;
    }
    leases.push({
      id: l.id as Lease['id'],
      holder: l.holder as string,
      uid: (l.uid as string | undefined) ?? null,
      client: (l.client as string | undefined) ?? null,
      slot: l.slot as number,
      api: l.api as Lease['api'],
      grantedAt: l.grantedAt as number,
      expiresAt: l.expiresAt as number,
    });
  }

  const queue: SavedWaiter[] = [];
  if (v.queue.length > MAX_QUEUE) problems.push(`${v.queue.length - MAX_QUEUE} waiters past ${MAX_QUEUE}`);
  for (const [i, raw] of v.queue.slice(0, MAX_QUEUE).entries()) {
    const q = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const ok =
      text(q.holder) &&
      optText(q.uid) &&
      optText(q.client) &&
      time(q.since, now - MAX_AGE, now + DAY) &&
      (q.graceUntil === undefined || time(q.graceUntil, now - MAX_AGE, now + MAX_HOLD_AHEAD));
    if (!ok) {
      problems.push(`waiter #${i}: out of range or mistyped (${clipJson(raw)})`);
      continue;
    }
    const waiter: SavedWaiter = {
      holder: q.holder as string,
      uid: (q.uid as string | undefined) ?? null,
      client: (q.client as string | undefined) ?? null,
      since: q.since as number,
    };
    if (q.graceUntil !== undefined) waiter.graceUntil = q.graceUntil as number;
    queue.push(waiter);
  }
  return { snapshot: { version: 1, savedAt, leases, queue }, problems };
}

function clipJson(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code} (${e.message})` : e.message;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
