// How the lock server writes an answer: one style for every route (plain `ServerResponse`, so the
// request paths can be driven in unit tests without express or a socket), the same bytes express wrote.
import type { ServerResponse } from 'node:http';
import type { DenialReason, Lease } from '../lock/types.js';

type Headers = Record<string, string>;

/** How long a refused client should wait before it asks again, by reason (seconds). */
const RETRY_AFTER: Partial<Record<DenialReason, string>> = { draining: '2', queue_full: '5', load: '5' };

export function text(res: ServerResponse, status: number, body: string, headers: Headers = {}): void {
  send(res, status, 'text/plain; charset=utf-8', body, headers);
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body), headers);
}

/** 204: no body, no content headers. */
export function noContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

/** A lease as the API shows it: seconds-free ISO times, no client secret. */
export function leaseJson(lease: Lease) {
  return {
    id: lease.id,
    holder: lease.holder,
    slot: lease.slot,
    grantedAt: new Date(lease.grantedAt).toISOString(),
    expiresAt: new Date(lease.expiresAt).toISOString(),
  };
}

/** Not granted (423, or 429 when the queue is full): where the holder stands and when to ask again. */
export function refuse(
  res: ServerResponse,
  status: number,
  reason: DenialReason,
  position: number,
  queueLength: number,
): void {
  json(res, status, { position, queueLength, reason }, { 'Retry-After': RETRY_AFTER[reason] ?? '1' });
}

/** A grant the state file could not hold: the lease was released again, the client asks once more. */
export function unsaved(res: ServerResponse): void {
  json(
    res,
    503,
    { error: 'the state file could not be written: lease not granted, retry', reason: 'not_ready' },
    { 'Retry-After': '1' },
  );
}

export function noSuchLease(res: ServerResponse): void {
  json(res, 404, { error: 'no such lease (released or expired)' });
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Headers): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
