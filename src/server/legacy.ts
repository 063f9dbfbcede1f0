// GET / — the pod-startup-lock API, byte-compatible with its clients: `200 Lock acquired` or
// `423 Locked`. Every waiting pod of an old client hits it once a second, so it skips express.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LockEngine } from '../lock/engine.js';
import { legacyHolder } from '../holder.js';
import type { Outcomes } from './outcomes.js';
import { queryOf, single, wholeSeconds } from './requests.js';
import { text } from './respond.js';

export interface LegacyOptions {
  engine: Pick<LockEngine, 'tryAcquire'>;
  outcomes: Outcomes;
  defaultDurationMs: number;
  maxDurationMs: number;
  /** Random per process (see legacyHolder). */
  bootId: string;
}

/** The requests this path answers: `GET /` and `GET /?…`. */
export function isLegacyRequest(req: IncomingMessage): boolean {
  return req.method === 'GET' && (req.url === '/' || req.url?.startsWith('/?') === true);
}

export function legacyHandler(opts: LegacyOptions): (req: IncomingMessage, res: ServerResponse) => void {
  let seq = 0;
  return (req, res) => {
    let durationMs: number;
    try {
      const raw = single(queryOf(req.url ?? '/'), 'duration');
      durationMs = wholeSeconds(raw, 'duration', opts.maxDurationMs, opts.defaultDurationMs);
    } catch (err) {
      text(res, 400, `${(err as Error).message}\n`);
      return;
    }
    const holder = legacyHolder(req.socket.remoteAddress ?? '?', opts.bootId, ++seq);
    const result = opts.engine.tryAcquire(holder, durationMs);
    if (result.kind === 'granted') {
      opts.outcomes.durably(
        result.lease,
        () => text(res, 200, 'Lock acquired'),
        () => text(res, 423, 'Locked'),
      );
    } else {
      opts.outcomes.deny(result.kind === 'denied' ? result.reason : 'locked');
      text(res, 423, 'Locked');
    }
  };
}
