// The waiting loop of `startup-lock acquire`: long polls on the lease API, the legacy `GET /` for an
// old pod-startup-lock server, backoff while the server is away, --timeout and --fail-open-after.
// Time, randomness and HTTP are injected, so every branch is unit-tested without sockets or sleeps.
import type { Clock } from '../clock.js';
import { Backoff } from '../backoff.js';
import { seconds } from '../seconds.js';
import type { ClientLogger } from './log.js';
import { Aborted, TransportError, type HttpAnswer, type Send } from './http.js';

export interface AcquireOptions {
  host: string;
  port: number;
  holder: string;
  /** Pod UID; empty sends none. */
  uid: string;
  /** How long to hold the lease, in milliseconds (whole seconds: the server counts in seconds); 0: the server picks. */
  durationMs: number;
  pauseMs: number;
  /** 0: forever. */
  timeoutMs: number;
  /** 0: never. */
  failOpenAfterMs: number;
  waitMs: number;
  token: string | null;
  /**
   * A random value fixed for this process, sent as `client=`: the server hands the lease (and its id)
   * and the queue place only to requests carrying it, so another pod cannot borrow our holder name.
   */
  client?: string;
  /** Reads --token-file again (after a 401: the Secret may have been rotated); null when none. */
  rereadToken?: () => string | null;
}

export interface AcquireDeps {
  clock: Clock;
  send: Send;
  log: ClientLogger;
  random?: () => number;
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal;
}

export type Outcome =
  | { kind: 'acquired'; api: Api; waitedMs: number }
  | { kind: 'timed-out'; waitedMs: number }
  | { kind: 'failed-open'; waitedMs: number }
  | { kind: 'bad-usage'; message: string }
  | { kind: 'stopped'; reason: unknown };

type Api = 'v1' | 'legacy';

/** What one round trip came to, before deciding what to do next. */
type Attempt =
  | { answer: HttpAnswer; tookMs: number }
  | { error: TransportError }
  | { stop: 'deadline' | 'fail-open' | 'signal' };

/** Requests answered at once: the legacy API, and the quick look before the first long poll. */
const QUICK_TIMEOUT_MS = 5000;
/** Slack over the long poll for the server to answer before the request is given up on. */
const LONG_POLL_SLACK_MS = 10_000;
const RETRY_AFTER_CAP_MS = 30_000;
/**
 * How long a refused token is retried before giving up as bad usage: across a rotation the server
 * and this pod's copy of the Secret may briefly disagree, and exit 2 costs the pod a restart back-off.
 */
export const UNAUTHORIZED_RETRY_MS = 30_000;

/** `::1` → `[::1]`: an IPv6 literal needs brackets in a URL and in log lines. */
export function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function acquire(options: AcquireOptions, deps: AcquireDeps): Promise<Outcome> {
  return new Waiter(options, deps).run();
}

class Waiter {
  private api: Api = 'v1';
  private waitMs: number;
  /**
   * The next lease request asks without waiting: a long poll says nothing until it ends, so the first
   * request (and the first after the server was away) learns the queue position at once, to log it.
   * The server keeps the place between the two polls (--queue-grace).
   */
  private quickLook = true;
  private readonly started: number;
  private readonly deadline: number;
  /**
   * When a lock server last gave a valid answer (a lease, or a queue answer it alone would give), or
   * the start. --fail-open-after counts from here: refused, hung, reset and garbage alike count as
   * absent, so a wedged server or another service on the port cannot keep pods in Init forever.
   */
  private validAt: number;
  private answeredValid = false;
  /** The last state logged, so each change is one line and polls in the same state are silent. */
  private logged = '';
  /** Whether the fall-back to the legacy API was logged (once, however often the client goes back). */
  private fellBack = false;
  private readonly backoff: Backoff;
  private readonly server: string;
  private token: string | null;
  /** Since when every answer has been 401/403; null otherwise. */
  private unauthorizedSince: number | null = null;

  constructor(
    private readonly o: AcquireOptions,
    private readonly d: AcquireDeps,
  ) {
    this.started = d.clock.now();
    this.validAt = this.started;
    this.deadline = o.timeoutMs > 0 ? this.started + o.timeoutMs : Infinity;
    this.waitMs = o.waitMs;
    this.token = o.token;
    this.backoff = new Backoff(200, 5000, d.random ?? Math.random);
    this.server = `http://${hostForUrl(o.host)}:${o.port}`;
  }

  async run(): Promise<Outcome> {
    const { log } = this.d;
    log.info(
      { server: this.server, holder: this.o.holder, timeoutMs: this.o.timeoutMs || null },
      'waiting for the startup lock',
    );
    for (;;) {
      const stop = this.stopReason();
      if (stop) return this.finish(stop);
      const attempt = await this.attempt();
      if ('stop' in attempt) return this.finish(attempt.stop);
      const next = 'error' in attempt ? this.onTransportError(attempt.error) : this.onAnswer(attempt);
      if (typeof next !== 'number') return next;
      // The pause a valid answer asks for (--pause, Retry-After) is waiting in line, not absence.
      if (this.answeredValid) this.validAt = this.now() + next;
      this.answeredValid = false;
      if (next > 0) {
        const slept = await this.sleep(next);
        if (slept) return this.finish(slept);
      }
    }
  }

  private now(): number {
    return this.d.clock.now();
  }

  private stopReason(): 'deadline' | 'fail-open' | 'signal' | null {
    if (this.d.signal.aborted) return 'signal';
    const now = this.now();
    if (now >= this.deadline) return 'deadline';
    if (this.failOpenAt() <= now) return 'fail-open';
    return null;
  }

  /** When --fail-open-after runs out: that long after the last valid answer. */
  private failOpenAt(): number {
    if (this.o.failOpenAfterMs === 0) return Infinity;
    return this.validAt + this.o.failOpenAfterMs;
  }

  private finish(why: 'deadline' | 'fail-open' | 'signal'): Outcome {
    const waitedMs = this.now() - this.started;
    const waitedSeconds = seconds(waitedMs);
    if (why === 'signal') {
      this.d.log.warn({ waitedSeconds }, 'stopped by a signal before the lock was granted');
      return { kind: 'stopped', reason: this.d.signal.reason };
    }
    if (why === 'deadline') {
      this.d.log.error(
        { waitedSeconds, timeoutMs: this.o.timeoutMs },
        'timed out waiting for the startup lock',
      );
      return { kind: 'timed-out', waitedMs };
    }
    this.d.log.warn(
      { waitedSeconds, server: this.server, failOpenAfterMs: this.o.failOpenAfterMs },
      'no valid answer from a lock server: starting without the lock (--fail-open-after)',
    );
    return { kind: 'failed-open', waitedMs };
  }

  private path(): string {
    const q = new URLSearchParams();
    if (this.api === 'v1') {
      q.set('holder', this.o.holder);
      if (this.o.uid) q.set('uid', this.o.uid);
      if (this.o.client) q.set('client', this.o.client);
    }
    if (this.o.durationMs > 0) q.set('duration', String(this.o.durationMs / 1000));
    if (this.api === 'legacy') return q.size > 0 ? `/?${q}` : '/';
    // Never wait at the server past our own deadline: let it answer instead of cutting the socket.
    const wait = this.quickLook ? 0 : Math.max(0, Math.min(this.waitMs, this.deadline - this.now()));
    // In the one duration grammar (whole numbers): seconds when whole, else milliseconds (to 100 ms).
    const tenths = Math.floor(wait / 100) * 100;
    q.set('wait', tenths % 1000 === 0 ? String(tenths / 1000) : `${tenths}ms`);
    return `/v1/leases?${q}`;
  }

  private attempt(): Promise<Attempt> {
    const { clock, signal } = this.d;
    const started = this.now();
    const controller = new AbortController();
    let stop: 'deadline' | 'fail-open' | 'signal' = 'signal';
    const abort = (why: typeof stop) => {
      stop = why;
      controller.abort();
    };
    const onSignal = () => abort('signal');
    signal.addEventListener('abort', onSignal, { once: true });
    const deadlineTimer =
      this.deadline === Infinity ? null : clock.setTimer(this.deadline - started, () => abort('deadline'));
    const longPoll = this.api === 'v1' && !this.quickLook;
    const timeoutMs = longPoll ? this.waitMs + LONG_POLL_SLACK_MS : QUICK_TIMEOUT_MS;
    // A long poll waiting at the server is a valid state, so it is not cut for --fail-open-after
    // before its own end (wait + slack): one that ends there without an answer then counts.
    const failOpenAt = Math.max(this.failOpenAt(), longPoll ? started + timeoutMs : 0);
    const failOpenTimer =
      failOpenAt === Infinity ? null : clock.setTimer(failOpenAt - started, () => abort('fail-open'));
    const headers: Record<string, string> = { 'user-agent': 'startup-lock-acquire' };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    const path = this.path();
    this.d.log.debug({ api: this.api, path }, 'polling');
    return this.d
      .send({
        host: this.o.host,
        port: this.o.port,
        method: this.api === 'v1' ? 'POST' : 'GET',
        path,
        headers,
        timeoutMs,
        signal: controller.signal,
      })
      .then(
        (answer): Attempt => ({ answer, tookMs: this.now() - started }),
        (err: unknown): Attempt => {
          if (err instanceof Aborted) return { stop };
          if (err instanceof TransportError) return { error: err };
          throw err;
        },
      )
      .finally(() => {
        signal.removeEventListener('abort', onSignal);
        deadlineTimer?.cancel();
        failOpenTimer?.cancel();
      });
  }

  /** Sleeps, cut short by the deadline, --fail-open-after or a signal; returns why it was cut short. */
  private sleep(ms: number): Promise<'deadline' | 'fail-open' | 'signal' | null> {
    const now = this.now();
    const until = Math.min(now + ms, this.deadline, this.failOpenAt());
    return new Promise((resolve) => {
      const done = () => {
        timer.cancel();
        this.d.signal.removeEventListener('abort', done);
        resolve(this.stopReason());
      };
      const timer = this.d.clock.setTimer(until - now, done);
      this.d.signal.addEventListener('abort', done, { once: true });
    });
  }

  private state(key: string, level: 'info' | 'warn', fields: Record<string, unknown>, msg: string): void {
    if (key === this.logged) return;
    this.logged = key;
    this.d.log[level](fields, msg);
  }

  private onTransportError(err: TransportError): number {
    this.quickLook = true;
    const delay = this.backoff.next();
    this.state(
      'unreachable',
      'warn',
      { server: this.server, error: err.message, code: err.code },
      'lock server unreachable, retrying',
    );
    return delay;
  }

  /** What to do after an HTTP answer: an Outcome to return, or how long to wait before the next poll. */
  private onAnswer({ answer, tookMs }: { answer: HttpAnswer; tookMs: number }): Outcome | number {
    const { status } = answer;
    const text = answer.body.trim();
    if (status !== 401 && status !== 403) this.unauthorizedSince = null;
    if (status === 200) {
      const lease = parseJson(text);
      if (this.api === 'legacy' || text === 'Lock acquired' || typeof lease?.id === 'string') {
        const api: Api = typeof lease?.id === 'string' ? 'v1' : 'legacy';
        const waitedMs = this.now() - this.started;
        this.d.log.info(
          {
            waitedSeconds: seconds(waitedMs),
            api,
            lease: lease?.id,
            slot: lease?.slot,
            expiresAt: lease?.expiresAt,
          },
          'lock acquired',
        );
        return { kind: 'acquired', api, waitedMs };
      }
      return this.unexpected(answer);
    }
    if (status === 423) {
      this.backoff.reset();
      const body = parseJson(text);
      if (this.api === 'v1' && body === null) {
        // An old pod-startup-lock answers every path: it took no lease for us, and speaks only GET /.
        return this.fallBack(answer);
      }
      if (this.api === 'legacy' ? text === 'Locked' : typeof body?.reason === 'string') this.valid();
      // A long poll that ran out says `timeout`; to the pod that is the same state as `locked`.
      const reason = typeof body?.reason === 'string' && body.reason !== 'timeout' ? body.reason : 'locked';
      const position = typeof body?.position === 'number' ? body.position : null;
      const queueLength = typeof body?.queueLength === 'number' ? body.queueLength : null;
      this.state(
        `waiting:${this.api}:${reason}:${position}`,
        'info',
        { api: this.api, position, queueLength, reason },
        position === null ? 'waiting: lock busy' : `waiting at position ${position} of ${queueLength}`,
      );
      if (this.quickLook && this.api === 'v1') {
        this.quickLook = false;
        return 0;
      }
      // A long poll that waited is followed at once; a quick "no" is not repeated faster than --pause,
      // and the server's Retry-After only shortens that (the queue place lasts --queue-grace).
      const pause = Math.min(this.o.pauseMs, retryAfterMs(answer) ?? Infinity);
      return Math.max(0, pause - tookMs);
    }
    if (status === 404) {
      if (this.api === 'v1') return this.fallBack(answer);
      // Neither API is there: try the lease API again after a backoff, without a line per round.
      this.api = 'v1';
      return this.unexpected(answer);
    }
    if (status === 400) {
      return { kind: 'bad-usage', message: `the lock server refused the request: ${errorOf(text)}` };
    }
    if (status === 401 || status === 403) return this.unauthorized(answer, text);
    if (status === 409 && parseJson(text)?.reason === 'taken') {
      // Our holder name is held or queued by another acquire process (this init container's earlier
      // run, restarted by the kubelet): a live lock server answered, so wait in line for it to end.
      this.valid();
      this.state(
        'taken',
        'warn',
        { status },
        'this pod is held or queued by another acquire process (an earlier run?): waiting for it to end',
      );
      return Math.max(this.o.pauseMs, this.backoff.next());
    }
    if (status === 429) {
      if (typeof parseJson(text)?.reason === 'string') this.valid();
      this.state('queue-full', 'warn', { status }, 'lock server queue is full, backing off');
      const retryAfter = Math.min(retryAfterMs(answer) ?? 0, RETRY_AFTER_CAP_MS);
      return Math.max(this.backoff.next(), retryAfter);
    }
    return this.unexpected(answer);
  }

  /**
   * A refused token is retried with backoff (re-reading --token-file) for UNAUTHORIZED_RETRY_MS, or
   * until --timeout, then given up as bad usage; no token at all is bad usage at once.
   */
  private unauthorized(answer: HttpAnswer, text: string): Outcome | number {
    if (this.o.token === null)
      return { kind: 'bad-usage', message: 'the lock server requires a bearer token: pass --token-file' };
    const now = this.now();
    this.unauthorizedSince ??= now;
    this.quickLook = true;
    const reread = this.o.rereadToken?.() ?? null;
    if (reread !== null && reread !== this.token) {
      this.token = reread;
      this.d.log.info({}, 'token file changed: retrying with the new token');
      return 0;
    }
    const delay = this.backoff.next();
    if (now - this.unauthorizedSince + delay > UNAUTHORIZED_RETRY_MS || now + delay >= this.deadline) {
      const message = `the lock server refused the token from --token-file (HTTP ${answer.status}): ${errorOf(text)}`;
      return { kind: 'bad-usage', message };
    }
    this.state(
      'unauthorized',
      'warn',
      { status: answer.status, retryForSeconds: UNAUTHORIZED_RETRY_MS / 1000 },
      'the lock server refused the token, retrying (a rotation may be under way)',
    );
    return delay;
  }

  /** A lock server answered as only a lock server would: --fail-open-after starts again. */
  private valid(): void {
    this.validAt = this.now();
    this.answeredValid = true;
  }

  private fallBack(answer: HttpAnswer): number {
    this.api = 'legacy';
    // Logged once: a server that answers 404 to everything sends the client back and forth.
    if (this.fellBack) return 0;
    this.fellBack = true;
    this.state(
      'legacy-fallback',
      'info',
      { server: this.server, status: answer.status },
      'server has no lease API: fell back to legacy API',
    );
    return 0;
  }

  /** 5xx and anything else: the server is there but not well (restarting, a proxy); retry with backoff. */
  private unexpected(answer: HttpAnswer): number {
    const delay = this.backoff.next();
    this.state(
      `http-${answer.status}`,
      'warn',
      { status: answer.status, body: answer.body.slice(0, 200) },
      'unexpected answer from the lock server, retrying',
    );
    return delay;
  }
}

function parseJson(text: string): Record<string, unknown> | null {
  if (!text.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function errorOf(text: string): string {
  const json = parseJson(text);
  if (typeof json?.error === 'string') return json.error;
  return text.split('\n')[0] || '(no reason given)';
}

/** Retry-After in seconds (the only form the lock server sends); null when absent or unreadable. */
function retryAfterMs(answer: HttpAnswer): number | null {
  const raw = answer.headers['retry-after'];
  if (typeof raw !== 'string' || !/^\d+$/.test(raw.trim())) return null;
  return Number(raw.trim()) * 1000;
}
