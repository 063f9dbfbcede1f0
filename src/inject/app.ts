// The two HTTP faces of `startup-lock inject`: POST /mutate on the TLS port (for the API server), and
// /healthz, /readyz, /metrics on a plain port (the kubelet probes and Prometheus must get an answer
// before a certificate exists).
import express, { type ErrorRequestHandler } from 'express';
import type { Logger } from '../log.js';
import type { InjectorMetrics } from '../metrics.js';
import type { MutateSettings } from './mutate.js';
import { review, type Result } from './review.js';

export interface InjectApps {
  webhook: express.Express;
  health: express.Express;
}

export interface Readiness {
  readonly ready: boolean;
  readonly notReadyReason: string;
}

// A pod with many containers is still far below this; the API server's own limit is 3 MiB.
const BODY_LIMIT = '4mb';

export function createApps(
  settings: MutateSettings,
  metrics: InjectorMetrics,
  readiness: Readiness,
  log: Logger,
): InjectApps {
  const counters = new Map<Result, { inc(): void }>();
  const count = (result: Result) => {
    let c = counters.get(result);
    if (!c) counters.set(result, (c = metrics.injections.labels({ result })));
    c.inc();
  };

  const webhook = express();
  webhook.disable('x-powered-by');
  webhook.set('etag', false);
  webhook.post('/mutate', express.json({ limit: BODY_LIMIT, type: () => true }), (req, res) => {
    const end = metrics.admissionDuration.startTimer();
    const reviewed = review(req.body as unknown, settings);
    count(reviewed.result);
    const fields = { result: reviewed.result, ...reviewed.log };
    if (reviewed.result === 'invalid' || reviewed.result === 'error')
      log.warn(fields, 'admission review allowed unchanged');
    else if (reviewed.log.warnings) log.warn(fields, 'admission review');
    else log.info(fields, 'admission review');
    res.json(reviewed.response);
    end();
  });
  webhook.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  // A body that is not JSON (or too big): allowed unchanged, never an error that could block a pod.
  const allowOnError: ErrorRequestHandler = (err: Error, req, res, _next) => {
    count('invalid');
    log.warn(
      { result: 'invalid', reason: err.message, path: req.path },
      'admission review allowed unchanged',
    );
    res.status(200).json({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '', allowed: true },
    });
  };
  webhook.use(allowOnError);

  const health = express();
  health.disable('x-powered-by');
  health.set('etag', false);
  health.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  health.get('/readyz', (_req, res) => {
    metrics.ready.set(readiness.ready ? 1 : 0);
    if (readiness.ready) res.type('text/plain').send('ready\n');
    else res.status(503).type('text/plain').send(`not ready: ${readiness.notReadyReason}\n`);
  });
  health.get('/metrics', async (_req, res) => {
    metrics.ready.set(readiness.ready ? 1 : 0);
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return { webhook, health };
}
