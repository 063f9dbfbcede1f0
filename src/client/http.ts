// One HTTP request to the lock server over node:http (no client library: start-up time matters here).
// Each request has its own connection, so aborting it (SIGTERM, --timeout) closes the socket and the
// server drops the waiter at once. Failures are typed: the caller retries transport errors.
import { request, type IncomingHttpHeaders } from 'node:http';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** At most MAX_BODY characters: answers from the lock server are one line or a small JSON object. */
  body: string;
}

export interface SendOptions {
  host: string;
  port: number;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  /** No answer within this time: the request fails with `timeout`. */
  timeoutMs: number;
  signal: AbortSignal;
  /** The TCP connection was accepted: a lock server is there, whatever it answers. */
  onConnected?: () => void;
}

export type Send = (options: SendOptions) => Promise<HttpAnswer>;

/** The server could not be reached or did not answer: connection refused, reset, timed out. */
export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The request was given up on purpose (the caller's signal); carries the signal's reason. */
export class Aborted extends Error {
  override name = 'Aborted';
  constructor(readonly reason: unknown) {
    super('aborted');
  }
}

const MAX_BODY = 64 * 1024;

export const send: Send = (options) =>
  new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal.aborted) return reject(new Aborted(signal.reason));
    const req = request({
      host: options.host,
      port: options.port,
      method: options.method,
      path: options.path,
      headers: { ...options.headers, connection: 'close' },
      agent: false,
    });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const fail = (err: Error) => {
      settle(() => reject(err));
      req.destroy();
    };
    const timer = setTimeout(
      () => fail(new TransportError(`no answer within ${options.timeoutMs}ms`, 'ETIMEDOUT')),
      options.timeoutMs,
    );
    const onAbort = () => fail(new Aborted(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });

    req.on('socket', (socket) => {
      socket.once('connect', () => options.onConnected?.());
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      fail(new TransportError(err.message, err.code ?? 'EIO'));
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < MAX_BODY) body += chunk;
      });
      res.on('end', () =>
        settle(() =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body.slice(0, MAX_BODY) }),
        ),
      );
      res.on('error', (err: NodeJS.ErrnoException) =>
        fail(new TransportError(err.message, err.code ?? 'ECONNRESET')),
      );
    });
    req.end();
  });
