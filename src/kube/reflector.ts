// Keeps a live copy of one set of API objects: list, then watch from the list's resourceVersion. A watch
// that ends is reopened from where it stopped; after 410 Gone (history compacted) or an ERROR event it
// lists again, reporting objects that vanished meanwhile as DELETED. Failures retry with capped,
// jittered backoff and are reported once per change of state, never thrown.
//
// Written instead of client-node's informer (cache.js): on any list or watch error the informer stops
// for good and leaves reconnecting, backoff and health reporting to the caller, which is all of the work.
import type { KubeConfig, Watch } from '@kubernetes/client-node';
import { Backoff } from '../backoff.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { classifyApiError, type AccessDeniedError, type ApiCallError } from './api-error.js';

export interface KubeObject {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    managedFields?: unknown;
  };
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

/** The one call the reflector makes to watch: client-node's `Watch.watch`, or the lean client's. */
export type WatchApi = Pick<Watch, 'watch'>;

export interface ReflectorOptions<T extends KubeObject> {
  /**
   * How to watch: the lean client (`leanWatch` in src/kube/adapters.ts), or, when only `kubeConfig` is
   * given, client-node's `Watch` (imported on first use, so a process on the lean path never loads it).
   */
  watchApi?: WatchApi;
  kubeConfig?: KubeConfig;
  /** The resource as RBAC names it (`pods`, `daemonsets.apps`), for error messages. */
  resource: string;
  /** Namespace watched; undefined means all namespaces (cluster-wide RBAC). */
  namespace?: string;
  /** Collection path for the watch, e.g. `/api/v1/pods`. */
  path: string;
  fieldSelector?: string;
  /** One full list with the same selectors (a typed client-node call with a request timeout). */
  list(): Promise<ListResult<T>>;
  /**
   * Drop `metadata.managedFields` (server-side apply bookkeeping, often half of an object's JSON) from
   * what is kept, for a copy whose users never read it.
   */
  dropManagedFields?: boolean;
  /** Every change, including DELETED for objects a relist no longer finds. */
  onChange(type: ChangeType, obj: T, previous: T | undefined): void;
  /** A list finished and the copy is complete. */
  onSynced?(): void;
  /** Contact with the API lost (with why), or regained (null): once per change, not per retry. */
  onHealth?(error: AccessDeniedError | ApiCallError | null): void;
  clock: Clock;
  log: Logger;
  /** First retry delay and its cap (doubling, with jitter). */
  backoff?: { initialMs: number; maxMs: number };
  /** The server ends each watch after about this long; we reopen it (bounds a silently dead stream). */
  watchTimeoutSeconds?: number;
  random?: () => number;
}

const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 5000 };
const WATCH_OPEN_TIMEOUT_MS = 30_000;

export class Reflector<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private resourceVersion = '';
  /** Bumped whenever a list or watch is abandoned, so its late callbacks are ignored. */
  private session = 0;
  private controller?: AbortController;
  private retry?: TimerHandle;
  private watchdog?: TimerHandle;
  private readonly backoff: Backoff;
  private error: AccessDeniedError | ApiCallError | null = null;
  private everSynced = false;
  private stopped = true;
  private watchApi?: WatchApi;

  constructor(private readonly options: ReflectorOptions<T>) {
    if (options.watchApi === undefined && options.kubeConfig === undefined) {
      throw new TypeError('Reflector: give watchApi or kubeConfig');
    }
    this.watchApi = options.watchApi;
    const { initialMs, maxMs } = options.backoff ?? DEFAULT_BACKOFF;
    this.backoff = new Backoff(initialMs, maxMs, () => this.random());
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.cycle(++this.session);
  }

  stop(): void {
    this.stopped = true;
    this.abandon();
  }

  /** Throw away the watch and list everything again (the periodic resync). */
  relist(): void {
    if (this.stopped) return;
    this.abandon();
    this.resourceVersion = '';
    void this.cycle(++this.session);
  }

  /** A full list has arrived at least once. */
  get synced(): boolean {
    return this.everSynced;
  }

  /** Why the API cannot be used right now, or null. */
  get lastError(): AccessDeniedError | ApiCallError | null {
    return this.error;
  }

  items(): T[] {
    return [...this.store.values()];
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(`${namespace ?? ''}/${name}`);
  }

  private abandon(): void {
    this.session++;
    this.retry?.cancel();
    this.watchdog?.cancel();
    this.controller?.abort();
    this.controller = undefined;
  }

  private async cycle(session: number): Promise<void> {
    if (this.resourceVersion === '') {
      let list: ListResult<T>;
      try {
        list = await this.options.list();
      } catch (err) {
        if (session === this.session && !this.stopped) this.failed(err, 'list');
        return;
      }
      if (session !== this.session || this.stopped) return;
      this.replace(list.items.map((obj) => this.trim(obj)));
      this.resourceVersion = list.metadata?.resourceVersion ?? '';
      this.everSynced = true;
      this.recovered();
      this.options.onSynced?.();
    }
    await this.watch(session);
  }

  private async watch(session: number): Promise<void> {
    const { path, fieldSelector, watchTimeoutSeconds = 300, clock } = this.options;
    // Spread reconnects of many processes: each watch lasts between 80 % and 100 % of the timeout.
    const timeoutSeconds = Math.max(1, Math.round(watchTimeoutSeconds * (0.8 + 0.2 * this.random())));
    const query: Record<string, string | number | boolean> = {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds,
    };
    if (fieldSelector !== undefined) query.fieldSelector = fieldSelector;
    const openedAt = clock.now();
    let events = 0;
    let ended = false;
    let opened = false;
    const end = (err: unknown) => {
      if (ended || session !== this.session || this.stopped) return;
      ended = true;
      this.watchdog?.cancel();
      this.controller = undefined;
      this.session++;
      // A stream that broke after it opened is reopened at once; only a failure to reopen it counts as
      // losing the API (a single dropped connection must not read as an outage).
      if (err !== null && err !== undefined && !opened) return this.failed(err, 'watch');
      if (err !== null && err !== undefined) {
        this.options.log.debug(
          { resource: this.options.resource, err: String(err) },
          'watch broke; reopening',
        );
      }
      // A clean end (server timeout, stream closed): reopen at once, unless the stream ended before it
      // delivered anything, which would otherwise spin.
      const spun = events === 0 && clock.now() - openedAt < 1000;
      if (spun) this.schedule();
      else void this.cycle(this.session);
    };
    const onEvent = (type: string, obj: unknown) => {
      if (ended || session !== this.session || this.stopped) return;
      events++;
      if (type === 'ERROR') {
        const status = obj as { code?: number; message?: string };
        // 410 Gone: the resourceVersion is too old; list again. Any other error: list again too.
        this.resourceVersion = '';
        if (status.code === 410) {
          this.options.log.debug({ resource: this.options.resource }, 'watch expired (410 Gone); relisting');
          return end(null);
        }
        this.options.log.debug(
          { resource: this.options.resource, code: status.code, err: status.message },
          'watch error event; relisting',
        );
        return end(null);
      }
      const object = obj as T;
      const rv = object.metadata?.resourceVersion;
      if (type === 'BOOKMARK') {
        if (rv) this.resourceVersion = rv;
        return;
      }
      if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
      if (rv) this.resourceVersion = rv;
      this.apply(type, this.trim(object));
    };
    // client-node puts no timeout on opening a watch either: a request the API never answers would
    // stall this copy for good. Give up on it after a while and start over (its late answer is dropped).
    this.watchdog?.cancel();
    this.watchdog = clock.setTimer(WATCH_OPEN_TIMEOUT_MS, () => {
      if (!opened)
        end(
          new Error(`watch of ${this.options.resource} did not open within ${WATCH_OPEN_TIMEOUT_MS / 1000}s`),
        );
    });
    try {
      const watchApi = this.watchApi ?? (this.watchApi = await this.clientNodeWatch());
      const controller = await watchApi.watch(path, query, onEvent, end);
      if (ended || session !== this.session || this.stopped) {
        controller.abort();
        return;
      }
      this.controller = controller;
      opened = true;
      this.recovered();
      // client-node sets no client-side timeout on a watch; a stream that dies silently ends here.
      this.watchdog?.cancel();
      this.watchdog = clock.setTimer((timeoutSeconds + 30) * 1000, () => {
        controller.abort();
        end(null);
      });
    } catch (err) {
      end(err);
    }
  }

  private async clientNodeWatch(): Promise<WatchApi> {
    const { Watch } = await import('@kubernetes/client-node');
    return new Watch(this.options.kubeConfig!);
  }

  private trim(obj: T): T {
    if (this.options.dropManagedFields && obj.metadata?.managedFields !== undefined) {
      delete obj.metadata.managedFields;
    }
    return obj;
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): void {
    const key = keyOf(obj);
    const previous = this.store.get(key);
    if (type === 'DELETED') {
      this.store.delete(key);
      this.options.onChange('DELETED', obj, previous);
      return;
    }
    this.store.set(key, obj);
    this.options.onChange(previous === undefined ? 'ADDED' : 'MODIFIED', obj, previous);
  }

  /** A fresh list replaces the copy: vanished objects read as DELETED, changed ones as ADDED/MODIFIED. */
  private replace(items: T[]): void {
    const fresh = new Map(items.map((obj) => [keyOf(obj), obj]));
    for (const [key, old] of [...this.store]) {
      if (!fresh.has(key)) {
        this.store.delete(key);
        this.options.onChange('DELETED', old, old);
      }
    }
    for (const [key, obj] of fresh) {
      const previous = this.store.get(key);
      this.store.set(key, obj);
      if (previous === undefined) this.options.onChange('ADDED', obj, undefined);
      else if (previous.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
        this.options.onChange('MODIFIED', obj, previous);
      }
    }
  }

  private failed(err: unknown, verb: 'list' | 'watch'): void {
    const { resource, namespace, log } = this.options;
    const error = classifyApiError(
      err,
      namespace === undefined ? { verb, resource } : { verb, resource, namespace },
    );
    // Reported when contact is lost or the kind of failure changes (e.g. unreachable → forbidden), not
    // on every retry; the retries themselves are debug.
    const report = this.error === null || this.error.name !== error.name;
    this.error = error;
    log.debug({ resource, err: error.message, failures: this.backoff.failures }, `${verb} failed; retrying`);
    if (report) {
      if (this.options.onHealth) this.options.onHealth(error);
      else log.warn({ resource, err: error.message }, `cannot ${verb} ${resource}; retrying with backoff`);
    }
    this.schedule();
  }

  private recovered(): void {
    this.backoff.reset();
    if (this.error === null) return;
    this.error = null;
    if (this.options.onHealth) this.options.onHealth(null);
    else
      this.options.log.info(
        { resource: this.options.resource },
        `${this.options.resource}: API reachable again`,
      );
  }

  private schedule(): void {
    const delay = this.backoff.next();
    this.retry?.cancel();
    const session = ++this.session;
    this.retry = this.options.clock.setTimer(delay, () => {
      if (session === this.session && !this.stopped) void this.cycle(session);
    });
  }

  private random(): number {
    return (this.options.random ?? Math.random)();
  }
}

function keyOf(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}
