// Where the lock server is in its life — starting, serving, draining — and what that means for grants
// (the gate), for /readyz, and for the open connections at shutdown.
import type { Server } from 'node:http';
import type { DenialReason } from '../lock/types.js';
import type { Logger } from '../log.js';

/** What holds grants back besides the lifecycle itself; each is asked on every grant decision. */
export interface GateSources {
  /** False while the state file cannot be written. */
  persisting(): boolean;
  checksUp(): boolean;
  loadTooHigh(): boolean;
}

/** The two facts /v1/status reports. */
export interface Lifecycle {
  ready: boolean;
  draining: boolean;
}

export class ServerLifecycle implements Lifecycle {
  /** Set once the server listens and its watchers run. */
  ready = false;
  /** Set at shutdown: no new grants, open polls answered. */
  draining = false;

  constructor(private readonly sources: GateSources) {}

  /** Why grants are held back right now, or null: the engine's gate and the reason a refusal gives. */
  gate(): DenialReason | null {
    if (!this.ready) return 'not_ready';
    // A grant answered now could not be made durable: hold them all until a write succeeds.
    if (!this.sources.persisting()) return 'not_ready';
    if (this.draining) return 'draining';
    if (!this.sources.checksUp()) return 'checks_failing';
    if (this.sources.loadTooHigh()) return 'load';
    return null;
  }

  /** What /readyz and /v1/status say: ready, or why not. */
  readiness(): { ready: true } | { ready: false; why: string } {
    if (this.draining) return { ready: false, why: 'draining' };
    if (!this.ready) return { ready: false, why: 'starting' };
    if (!this.sources.persisting()) return { ready: false, why: 'state file write failing' };
    return { ready: true };
  }
}

/**
 * The HTTP half of shutdown, in phases: stop accepting, answer the waiting polls, let in-flight
 * requests finish (closing each keep-alive connection as it goes idle), and after `timeoutMs` close
 * whatever is left. Resolves when no connection remains.
 */
export async function drainHttp(
  http: Server,
  polls: { answerAll(): void; readonly count: number },
  timeoutMs: number,
  log: Pick<Logger, 'info' | 'warn'>,
): Promise<void> {
  log.info({ openPolls: polls.count, timeoutMs }, 'draining');
  polls.answerAll();
  const closed = new Promise<void>((resolve) => http.close(() => resolve()));
  const sweep = setInterval(() => http.closeIdleConnections(), 50);
  http.closeIdleConnections();
  const deadline = new Promise<'timeout'>((resolve) =>
    setTimeout(() => resolve('timeout'), timeoutMs).unref(),
  );
  if ((await Promise.race([closed, deadline])) === 'timeout') {
    log.warn('shutdown timeout reached, closing remaining connections');
    http.closeAllConnections();
  }
  clearInterval(sweep);
}
