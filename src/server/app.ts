// The HTTP edge of the lock: routes each request to its path — the legacy API (legacy.ts), the /v1
// lease API with its long polls (long-poll.ts), status, health and metrics. Requests are parsed here
// and handed on; nothing here decides who gets a slot.
import type { RequestListener } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Clock } from '../clock.js';
import type { LockEngine } from '../lock/engine.js';
import type { Lease } from '../lock/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { isLegacyRequest, legacyHandler } from './legacy.js';
import type { ServerLifecycle } from './lifecycle.js';
import { LongPolls, type LeaseAsk } from './long-poll.js';
import { Outcomes } from './outcomes.js';
import {
  BadRequest,
  clientOf,
  holderParam,
  queryOf,
  single,
  uidOf,
  waitSeconds,
  wholeSeconds,
} from './requests.js';
import { json, leaseJson, noContent, noSuchLease, text } from './respond.js';
import type { BearerToken } from './token.js';

export interface AppOptions {
  engine: LockEngine;
  metrics: Metrics;
  life: ServerLifecycle;
  clock: Pick<Clock, 'setTimer'>;
  status: () => object;
  defaultDurationMs: number;
  maxDurationMs: number;
  maxWaitMs: number;
  legacyApi: boolean;
  /** The lease API's bearer token; null leaves the API open. */
  token: Pick<BearerToken, 'accepts'> | null;
  /** Names legacy holders apart from those of earlier processes (see LegacyOptions.bootId). */
  bootId: string;
  /** With --state-file: see OutcomeOptions.saved. */
  saved?: () => Promise<void>;
  log: Pick<Logger, 'warn' | 'error'>;
}

export interface LockApp {
  listener: RequestListener;
  /** The open long polls (answered `draining` at shutdown). */
  polls: LongPolls;
}

export function createApp(opts: AppOptions): LockApp {
  const { engine, metrics, life } = opts;
  const outcomes = new Outcomes({ engine, denials: metrics.denials, saved: opts.saved });
  const polls = new LongPolls({
    engine,
    outcomes,
    gate: () => life.gate(),
    clock: opts.clock,
    draining: () => life.draining,
  });
  const legacy = legacyHandler({ ...opts, outcomes });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => text(res, 200, 'ok\n'));
  app.get('/readyz', (_req, res) => {
    const r = life.readiness();
    text(res, r.ready ? 200 : 503, r.ready ? 'ready\n' : `${r.why}\n`);
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const v1 = express.Router();
  v1.use((req, res, next) => {
    if (opts.token === null || opts.token.accepts(req.headers.authorization)) return next();
    json(
      res,
      401,
      { error: 'a valid bearer token is required (Authorization: Bearer <token>)' },
      { 'WWW-Authenticate': 'Bearer realm="startup-lock"' },
    );
  });

  v1.get('/status', (_req, res) => json(res, 200, opts.status()));

  v1.post('/leases', (req, res) => {
    let ask: LeaseAsk;
    try {
      ask = leaseAsk(queryOf(req.url), opts);
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      json(res, 400, { error: err.message });
      return;
    }
    polls.serve(ask, req, res);
  });

  v1.put('/leases/:id', (req, res) => {
    let durationMs: number;
    try {
      const raw = single(queryOf(req.url), 'duration');
      durationMs = wholeSeconds(raw, 'duration', opts.maxDurationMs, opts.defaultDurationMs);
    } catch (err) {
      json(res, 400, { error: (err as Error).message });
      return;
    }
    const lease = engine.extend(req.params.id as Lease['id'], durationMs);
    if (!lease) noSuchLease(res);
    else json(res, 200, leaseJson(lease));
  });

  v1.delete('/leases/:id', (req, res) => {
    if (engine.release(req.params.id as Lease['id'], 'released')) noContent(res);
    else noSuchLease(res);
  });

  v1.use((_req, res) => json(res, 404, { error: 'not found' }));
  app.use('/v1', v1);
  app.use((_req: Request, res: Response) => text(res, 404, 'Not found\n'));
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
    const close = { Connection: 'close' };
    if (req.originalUrl.startsWith('/v1')) json(res, status, { error: reason }, close);
    else text(res, status, `${reason}\n`, close);
  });

  const listener: RequestListener = (req, res) => {
    if (opts.legacyApi && isLegacyRequest(req)) legacy(req, res);
    else app(req, res);
  };
  return { listener, polls };
}

/** POST /v1/leases?holder=&uid=&client=&duration=&wait= → what it asks for; BadRequest if malformed. */
function leaseAsk(params: URLSearchParams, opts: AppOptions): LeaseAsk {
  return {
    holder: holderParam(single(params, 'holder')),
    uid: uidOf(single(params, 'uid')),
    client: clientOf(single(params, 'client')),
    durationMs: wholeSeconds(
      single(params, 'duration'),
      'duration',
      opts.maxDurationMs,
      opts.defaultDurationMs,
    ),
    waitMs: waitSeconds(single(params, 'wait'), opts.maxWaitMs),
  };
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
