// Leases and queue order on disk, so a restart of the server (a DaemonSet rolling update) does not
// release a herd. Writes are atomic: write a temp file, fsync, rename, fsync the directory. Writes are
// coalesced: a burst of grants costs one write. A corrupt or unreadable file is logged and ignored.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { Snapshot } from '../lock/types.js';
import type { Logger } from '../log.js';

export class StateFile {
  private dirty = false;
  private writing: Promise<void> | null = null;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => Snapshot,
    private readonly log: Logger,
  ) {}

  async load(): Promise<Snapshot | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn(
          { err: (err as Error).message, path: this.path },
          'state file unreadable, starting empty',
        );
      }
      return null;
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      if (!isSnapshot(parsed)) throw new Error('not a startup-lock state (version 1)');
      return parsed;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, path: this.path }, 'state file corrupt, ignoring it');
      return null;
    }
  }

  /** Note that the state changed; a write follows soon (never more than one in flight). */
  markDirty(): void {
    this.dirty = true;
    if (!this.writing) this.writing = this.drain();
  }

  /** Wait until everything marked so far is on disk. */
  async flush(): Promise<void> {
    this.markDirty();
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      // Let the current burst of changes land first: one write for many grants.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.dirty) {
        this.dirty = false;
        await this.write(JSON.stringify(this.snapshot()));
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message, path: this.path }, 'state file write failed');
    } finally {
      this.writing = null;
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

function isSnapshot(value: unknown): value is Snapshot {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<Snapshot>;
  return (
    v.version === 1 &&
    Array.isArray(v.leases) &&
    Array.isArray(v.queue) &&
    v.leases.every(
      (l) =>
        typeof l?.id === 'string' &&
        typeof l.holder === 'string' &&
        typeof l.slot === 'number' &&
        typeof l.grantedAt === 'number' &&
        typeof l.expiresAt === 'number',
    ) &&
    v.queue.every((q) => typeof q?.holder === 'string' && typeof q.since === 'number')
  );
}
