// POST /v1/leases — join the FIFO queue and wait up to `wait` for a slot. One LongPoll is one open
// request: it is answered exactly once, by whichever comes first of a grant, the wait running out,
// a newer poll of the same holder, the drain, or the connection closing (which answers nobody).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../clock.js';
import type { LockEngine, Poll } from '../lock/engine.js';
import type { DenialReason, Lease } from '../lock/types.js';
import type { Outcomes } from './outcomes.js';
import { json, leaseJson, refuse, unsaved } from './respond.js';

/** A parsed POST /v1/leases. */
export interface LeaseAsk {
  holder: string;
  uid: string | null;
  client: string | null;
  durationMs: number;
  /** 0: answer at once, never hold the request open. */
  waitMs: number;
}

export interface LongPollOptions {
  engine: Pick<LockEngine, 'acquire' | 'endPoll' | 'hangUp' | 'position' | 'queueLength'>;
  outcomes: Outcomes;
  /** Why grants are held back right now, or null: the reason a poll that ends without a grant gives. */
  gate: () => DenialReason | null;
  /** Timers for the wait (the server's clock; a fake one in tests). */
  clock: Pick<Clock, 'setTimer'>;
  draining: () => boolean;
}

export class LongPolls {
  /** The open polls, each with the way to answer it `draining`. */
  private readonly open = new Set<() => void>();

  constructor(private readonly opts: LongPollOptions) {}

  /** Polls waiting for an answer right now. */
  get count(): number {
    return this.open.size;
  }

  /** Answer every open poll with 423 `draining` (shutdown). */
  answerAll(): void {
    for (const answer of [...this.open]) answer();
  }

  /** Serve one request; `res` is answered now or later, exactly once (or never, if it closes first). */
  serve(ask: LeaseAsk, req: Pick<IncomingMessage, 'socket'>, res: ServerResponse): void {
    const { engine, outcomes, gate } = this.opts;
    const { holder } = ask;
    if (this.opts.draining()) {
      outcomes.deny('draining');
      refuse(res, 423, 'draining', engine.position(holder), engine.queueLength);
      return;
    }

    let answered = false;
    let timer: TimerHandle | undefined;
    const finish = () => {
      answered = true;
      timer?.cancel();
      this.open.delete(drain);
    };
    const notGranted = (reason: DenialReason) => {
      if (answered) return;
      finish();
      engine.endPoll(holder, poll);
      outcomes.deny(reason);
      refuse(res, 423, reason, engine.position(holder), engine.queueLength);
    };
    const drain = () => notGranted('draining');
    const poll: Poll = {
      alive: () => !answered && !res.writableEnded && !req.socket.destroyed,
      granted: (lease) => {
        if (answered) return;
        finish();
        grant(outcomes, lease, res);
      },
      superseded: () => notGranted(gate() ?? 'locked'),
    };

    const result = engine.acquire(holder, ask.uid, ask.durationMs, ask.waitMs > 0 ? poll : null, ask.client);
    switch (result.kind) {
      case 'granted':
        answered = true;
        grant(outcomes, result.lease, res);
        return;
      case 'taken':
        // Never the other client's lease id, position or poll: this request did not create them.
        answered = true;
        json(res, 409, {
          error: `holder ${holder} is held or queued by another client (a different client= value)`,
          reason: 'taken',
        });
        return;
      case 'denied':
        answered = true;
        outcomes.deny(result.reason);
        refuse(res, result.reason === 'queue_full' ? 429 : 423, result.reason, 0, engine.queueLength);
        return;
      case 'queued':
        if (ask.waitMs === 0) {
          answered = true;
          const reason = gate() ?? 'locked';
          outcomes.deny(reason);
          refuse(res, 423, reason, result.position, result.queueLength);
          return;
        }
        this.open.add(drain);
        timer = this.opts.clock.setTimer(ask.waitMs, () => notGranted(gate() ?? 'timeout'));
        res.on('close', () => {
          if (answered) return;
          finish();
          engine.hangUp(holder, poll);
        });
    }
  }
}

function grant(outcomes: Outcomes, lease: Lease, res: ServerResponse): void {
  outcomes.durably(
    lease,
    () => json(res, 200, leaseJson(lease)),
    () => unsaved(res),
  );
}
