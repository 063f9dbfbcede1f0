// Tells a waiter the moment one of its Leases changes (released, expired and taken, deleted), so it
// tries again at once instead of at its next poll. Best effort: the waiter polls anyway, so a watch
// that is forbidden (no `watch` on leases in the Role) or keeps failing only costs latency.
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { statusOf } from '../kube/api-error.js';

export interface LeaseWatchOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  names: readonly string[];
  /** Called on every change to one of the named Leases. */
  onChange: (name: string) => void;
  /** Pause before re-opening a watch that ended or failed. */
  retryMs: number;
  clock: Clock;
  log: Logger;
}

export class LeaseWatch {
  private controller?: AbortController;
  private retry?: TimerHandle;
  private stopped = false;
  private warned = false;

  constructor(private readonly options: LeaseWatchOptions) {}

  start(): void {
    this.stopped = false;
    void this.open();
  }

  stop(): void {
    this.stopped = true;
    this.retry?.cancel();
    this.controller?.abort();
    this.controller = undefined;
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    const { namespace, names } = this.options;
    const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
    // One Lease: let the server filter. Several: watch the namespace and filter here.
    const query: Record<string, string | boolean> = { allowWatchBookmarks: true };
    if (names.length === 1) query.fieldSelector = `metadata.name=${names[0]}`;
    try {
      const controller = await new Watch(this.options.kubeConfig).watch(
        path,
        query,
        (type, obj: { metadata?: { name?: string } }) => {
          const name = obj?.metadata?.name;
          if (type !== 'BOOKMARK' && type !== 'ERROR' && name !== undefined && names.includes(name)) {
            this.options.onChange(name);
          }
        },
        (err: unknown) => this.ended(err),
      );
      if (this.stopped) controller.abort();
      else this.controller = controller;
    } catch (err) {
      this.ended(err);
    }
  }

  private ended(err: unknown): void {
    this.controller = undefined;
    if (this.stopped) return;
    if (err !== null && err !== undefined && !this.warned) {
      const status = statusOf(err);
      this.warned = true;
      this.options.log.warn(
        { err: (err as Error).message, status },
        status === 403
          ? 'cannot watch leases (grant "watch" on leases.coordination.k8s.io for instant hand-over); polling every --retry-period'
          : 'lease watch failed; polling every --retry-period meanwhile',
      );
    }
    this.retry = this.options.clock.setTimer(this.options.retryMs, () => void this.open());
  }
}
