// The HTTP edge of the lock: the legacy pod-startup-lock API, the /v1 lease API with long polls,
// status, health and metrics. Requests are parsed here and handed to the engine; nothing here decides
// who gets a slot.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { LockEngine, Poll } from '../lock/engine.js';
import type { DenialReason, Lease } from '../lock/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import {
  BadRequest,
  clientOf,
  holderOf,
  queryOf,
  single,
  uidOf,
  waitSeconds,
  wholeSeconds,
} from './requests.js';
import type { BearerToken } from './token.js';

export interface Lifecycle {
  ready: boolean;
  draining: boolean;
}

export interface AppOptions {
  engine: LockEngine;
  metrics: Metrics;
  life: Lifecycle;
  /** Why grants are held back right now (not ready, draining, checks, load), or null. */
  gate: () => DenialReason | null;
  status: () => object;
  defaultDurationMs: number;
  maxDurationMs: number;
  maxWaitMs: number;
  legacyApi: boolean;
  /** The lease API's bearer token; null leaves the API open. */
  token: Pick<BearerToken, 'accepts'> | null;
  /**
   * Random per process: legacy holders are named `legacy:IP#<bootId>.<n>`, so a name never repeats
   * one restored from the state file (n starts at 1 in every process).
   */
  bootId: string;
  /**
   * With --state-file: resolves once every change so far is on disk, rejects if that write failed.
   * A grant is answered only after it: a kill right after the answer must not lose the lease.
   */
  saved?: () => Promise<void>;
  /** False while the state file cannot be written: not ready (grants are held too). */
  healthy?: () => boolean;
  log: Pick<Logger, 'warn' | 'error'>;
}

export interface LockApp {
  listener: RequestListener;
  /** Answer every open long poll with 423 `draining` (shutdown). */
  answerAllPolls(): void;
  openPolls(): number;
}

const RETRY_AFTER: Partial<Record<DenialReason, string>> = { draining: '2', queue_full: '5', load: '5' };

export function createApp(opts: AppOptions): LockApp {
  const { engine, metrics } = opts;
  const polls = new Set<() => void>();
  let legacySeq = 0;

  // The 423 path runs once a second per waiting legacy pod: count on pre-bound children, no label hashing.
  const denied = new Map<DenialReason, { inc(): void }>();
  const deny = (reason: DenialReason) => {
    let counter = denied.get(reason);
    if (!counter) denied.set(reason, (counter = metrics.denials.labels({ reason })));
    counter.inc();
  };

  /**
   * Answer a grant once the state file holds it. If that write failed the lease is released and the
   * client told to come back (it was never durable); the failed write also holds further grants
   * (the gate says not_ready) until a write succeeds, so the queue is not churned through.
   */
  function durably(lease: Lease, answer: () => void, fail: () => void): void {
    if (!opts.saved) return answer();
    opts.saved().then(answer, () => {
      engine.release(lease.id, 'released');
      deny('not_ready');
      fail();
    });
  }

  // The legacy path is what every waiting pod of an old client hits once a second; it skips express.
  function legacy(req: IncomingMessage, res: ServerResponse): void {
    let durationMs: number;
    try {
      const raw = single(queryOf(req.url ?? '/'), 'duration');
      durationMs = wholeSeconds(raw, 'duration', opts.maxDurationMs, opts.defaultDurationMs);
    } catch (err) {
      text(res, 400, `${(err as Error).message}\n`);
      return;
    }
    const holder = `legacy:${req.socket.remoteAddress ?? '?'}#${opts.bootId}.${++legacySeq}`;
    const result = engine.tryAcquire(holder, durationMs);
    if (result.kind === 'granted') {
      durably(
        result.lease,
        () => text(res, 200, 'Lock acquired'),
        () => text(res, 423, 'Locked'),
      );
    } else {
      deny(result.kind === 'denied' ? result.reason : 'locked');
      text(res, 423, 'Locked');
    }
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    const persisting = opts.healthy?.() ?? true;
    const ready = opts.life.ready && !opts.life.draining && persisting;
    const why = opts.life.draining ? 'draining' : !opts.life.ready ? 'starting' : 'state file write failing';
    res
      .status(ready ? 200 : 503)
      .type('text/plain')
      .send(ready ? 'ready\n' : `${why}\n`);
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const v1 = express.Router();
  v1.use((req, res, next) => {
    if (opts.token === null || opts.token.accepts(req.headers.authorization)) return next();
    res.setHeader('WWW-Authenticate', 'Bearer realm="startup-lock"');
    res.status(401).json({ error: 'a valid bearer token is required (Authorization: Bearer <token>)' });
  });

  v1.get('/status', (_req, res) => {
    res.json(opts.status());
  });

  v1.post('/leases', (req, res) => {
    const params = queryOf(req.url);
    let holder: string, uid: string | null, client: string | null, durationMs: number, waitMs: number;
    try {
      holder = holderOf(single(params, 'holder'));
      uid = uidOf(single(params, 'uid'));
      client = clientOf(single(params, 'client'));
      durationMs = wholeSeconds(
        single(params, 'duration'),
        'duration',
        opts.maxDurationMs,
        opts.defaultDurationMs,
      );
      waitMs = waitSeconds(single(params, 'wait'), opts.maxWaitMs);
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      res.status(400).json({ error: err.message });
      return;
    }
    if (opts.life.draining) {
      deny('draining');
      refuse(res, 423, 'draining', engine.position(holder), engine.queueLength);
      return;
    }

    let answered = false;
    let timer: NodeJS.Timeout | undefined = undefined;
    const finish = () => {
      answered = true;
      clearTimeout(timer);
      polls.delete(drain);
    };
    const notGranted = (reason: DenialReason) => {
      if (answered) return;
      finish();
      engine.endPoll(holder, poll);
      deny(reason);
      refuse(res, 423, reason, engine.position(holder), engine.queueLength);
    };
    const drain = () => notGranted('draining');
    const poll: Poll = {
      alive: () => !answered && !res.writableEnded && !req.socket.destroyed,
      granted: (lease) => {
        if (answered) return;
        finish();
        durably(
          lease,
          () => res.json(leaseJson(lease)),
          () => unsaved(res),
        );
      },
      superseded: () => notGranted(opts.gate() ?? 'locked'),
    };

    const result = engine.acquire(holder, uid, durationMs, waitMs > 0 ? poll : null, client);
    if (result.kind === 'granted') {
      answered = true;
      const lease = result.lease;
      durably(
        lease,
        () => res.json(leaseJson(lease)),
        () => unsaved(res),
      );
      return;
    }
    if (result.kind === 'taken') {
      // Never the other client's lease id, position or poll: this request did not create them.
      answered = true;
      res.status(409).json({
        error: `holder ${holder} is held or queued by another client (a different client= value)`,
        reason: 'taken',
      });
      return;
    }
    if (result.kind === 'denied') {
      answered = true;
      deny(result.reason);
      refuse(res, result.reason === 'queue_full' ? 429 : 423, result.reason, 0, engine.queueLength);
      return;
    }
    if (waitMs === 0) {
      answered = true;
      const reason = opts.gate() ?? 'locked';
      deny(reason);
      refuse(res, 423, reason, result.position, result.queueLength);
      return;
    }
    polls.add(drain);
    timer = setTimeout(() => notGranted(opts.gate() ?? 'timeout'), waitMs);
    res.on('close', () => {
      if (answered) return;
      finish();
      engine.hangUp(holder, poll);
    });
  });

  v1.put('/leases/:id', (req, res) => {
    let durationMs: number;
    try {
      const raw = single(queryOf(req.url), 'duration');
      durationMs = wholeSeconds(raw, 'duration', opts.maxDurationMs, opts.defaultDurationMs);
    } catch (err) {
      res.status(400).json({ error: (err as Error).message });
      return;
    }
    const lease = engine.extend(req.params.id as Lease['id'], durationMs);
    if (!lease) res.status(404).json({ error: 'no such lease (released or expired)' });
    else res.json(leaseJson(lease));
  });

  v1.delete('/leases/:id', (req, res) => {
    if (engine.release(req.params.id as Lease['id'], 'released')) res.status(204).end();
    else res.status(404).json({ error: 'no such lease (released or expired)' });
  });

  v1.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use('/v1', v1);
  app.use((_req: Request, res: Response) => {
    res.status(404).type('text/plain').send('Not found\n');
  });
  // Whatever a route or express itself throws (a path that does not decode, `%ZZ`): one JSON log
  // line and a one-line answer, never express's default of a stack trace on stderr and in the body.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = httpStatusOf(err);
    const path = clipped(req.originalUrl.split('?')[0] ?? '');
    const reason = status < 500 ? (err as Error).message : 'internal error';
    if (status < 500) opts.log.warn({ method: req.method, path, status, reason }, 'bad request');
    else opts.log.error({ method: req.method, path, err }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.setHeader('Connection', 'close');
    if (req.originalUrl.startsWith('/v1')) res.status(status).json({ error: reason });
    else res.status(status).type('text/plain').send(`${reason}\n`);
  });

  const listener: RequestListener = (req, res) => {
    if (opts.legacyApi && req.method === 'GET' && (req.url === '/' || req.url?.startsWith('/?'))) {
      legacy(req, res);
      return;
    }
    app(req, res);
  };

  return {
    listener,
    answerAllPolls() {
      for (const answer of [...polls]) answer();
    },
    openPolls: () => polls.size,
  };
}

export function leaseJson(lease: Lease) {
  return {
    id: lease.id,
    holder: lease.holder,
    slot: lease.slot,
    grantedAt: new Date(lease.grantedAt).toISOString(),
    expiresAt: new Date(lease.expiresAt).toISOString(),
  };
}

function unsaved(res: Response): void {
  res.setHeader('Retry-After', '1');
  res
    .status(503)
    .json({ error: 'the state file could not be written: lease not granted, retry', reason: 'not_ready' });
}

function refuse(res: Response, status: number, reason: DenialReason, position: number, queueLength: number) {
  res.setHeader('Retry-After', RETRY_AFTER[reason] ?? '1');
  res.status(status).json({ position, queueLength, reason });
}

/** The 4xx an error carries (express and its body parsers set `status`), else 500. */
function httpStatusOf(err: unknown): number {
  if (err instanceof BadRequest) return 400;
  const status =
    (err as { status?: unknown; statusCode?: unknown } | null)?.status ??
    (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : 500;
}

function clipped(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}
