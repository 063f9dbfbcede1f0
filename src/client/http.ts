// One HTTP/1.1 request to the lock server over a plain TCP socket (node:net), and the little of HTTP
// its answers need: a status line, headers, and a body framed by Content-Length, chunked encoding or
// the end of the connection. Every pod on a crowded node pays this client's start-up, so it does not
// load node:http: its modules, agent and parser cost an init container ~10 ms of CPU (more than the
// request), and an ESM import of it on Node >= 22 also loads undici (~50 ms) for WebSocket getters.
// Each request has its own connection (`Connection: close`), so aborting it (SIGTERM, --timeout)
// closes the socket and the server drops the waiter at once. Failures are typed: the caller retries
// transport errors.
import type { Socket } from 'node:net';

const { connect } = process.getBuiltinModule('node:net');

export interface HttpAnswer {
  status: number;
  /** Header names in lower case; a repeated header's values joined with ", ". */
  headers: Record<string, string>;
  /** At most MAX_BODY bytes, decoded as UTF-8: the lock server answers one line or a small JSON object. */
  body: string;
}

export interface SendOptions {
  host: string;
  port: number;
  method: 'GET' | 'POST';
  /** Path and query, already percent-encoded. */
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

const MAX_HEAD = 16 * 1024;
const MAX_BODY = 64 * 1024;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

export const send: Send = (options) =>
  new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal.aborted) return reject(new Aborted(signal.reason));
    const head = requestHead(options);
    const reader = new ResponseReader();
    const socket: Socket = connect({ host: options.host, port: options.port });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      fn();
    };
    const fail = (err: Error) => settle(() => reject(err));
    const timer = setTimeout(
      () => fail(new TransportError(`no answer within ${options.timeoutMs}ms`, 'ETIMEDOUT')),
      options.timeoutMs,
    );
    const onAbort = () => fail(new Aborted(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });

    socket.once('connect', () => {
      options.onConnected?.();
      // Not end(): a half-closed connection would read to the server as a waiter that went away.
      socket.write(head);
    });
    socket.on('data', (chunk: Buffer) => {
      let answer: HttpAnswer | null;
      try {
        answer = reader.push(chunk);
      } catch (err) {
        return fail(err as TransportError);
      }
      if (answer) settle(() => resolve(answer));
    });
    socket.once('end', () => {
      let answer: HttpAnswer;
      try {
        answer = reader.end();
      } catch (err) {
        return fail(err as TransportError);
      }
      settle(() => resolve(answer));
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      fail(new TransportError(err.message, err.code ?? 'EIO')),
    );
    socket.once('close', () => fail(new TransportError('socket hang up', 'ECONNRESET')));
  });

/** The request line and headers; a POST carries no body. Throws on what would split the request. */
function requestHead(o: SendOptions): string {
  if (!/^\/[\x21-\x7e]*$/.test(o.path))
    throw new TypeError(`invalid request path: ${JSON.stringify(o.path)}`);
  const host = o.host.includes(':') ? `[${o.host}]:${o.port}` : `${o.host}:${o.port}`;
  const lines = [`${o.method} ${o.path} HTTP/1.1`, `Host: ${host}`];
  for (const [name, value] of Object.entries(o.headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(value))
      throw new TypeError(`invalid request header ${JSON.stringify(name)}`);
    lines.push(`${name}: ${value}`);
  }
  lines.push('Connection: close');
  if (o.method === 'POST') lines.push('Content-Length: 0');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

type Framing =
  | { kind: 'length'; left: number }
  | { kind: 'chunked'; left: number; phase: 'size' | 'data' | 'data-end' }
  | { kind: 'close' };

/**
 * Reads one response from the bytes as they come: push() returns the answer once it is complete,
 * end() when the server has closed the connection. Malformed input throws a TransportError (EPROTO).
 */
export class ResponseReader {
  private buffered: Buffer = Buffer.alloc(0);
  private status = 0;
  private headers: Record<string, string> = {};
  private framing: Framing | null = null;
  private readonly body: Buffer[] = [];
  private bodyBytes = 0;
  private done = false;

  push(chunk: Buffer): HttpAnswer | null {
    if (this.done) return null;
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (!this.done) {
      const progressed = this.framing === null ? this.readHead() : this.readBody(this.framing);
      if (!progressed) break;
    }
    return this.done ? this.answer() : null;
  }

  end(): HttpAnswer {
    if (!this.done && this.framing?.kind !== 'close')
      throw new TransportError(
        this.framing === null ? 'socket hang up' : 'the response ended before its body did',
        'ECONNRESET',
      );
    this.done = true;
    return this.answer();
  }

  private answer(): HttpAnswer {
    return { status: this.status, headers: this.headers, body: Buffer.concat(this.body).toString('utf8') };
  }

  /** Parses the status line and headers once they are all here; false while waiting for more. */
  private readHead(): boolean {
    const at = this.buffered.indexOf(HEAD_END);
    if (at < 0) {
      if (this.buffered.length > MAX_HEAD) throw protocolError(`response headers over ${MAX_HEAD} bytes`);
      return false;
    }
    const [statusLine = '', ...lines] = this.buffered.subarray(0, at).toString('latin1').split('\r\n');
    this.buffered = this.buffered.subarray(at + HEAD_END.length);
    const status = /^HTTP\/1\.[01] ([1-5]\d\d)(?: .*)?$/.exec(statusLine);
    if (!status)
      throw protocolError(`not an HTTP/1.x status line: ${JSON.stringify(statusLine.slice(0, 60))}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw protocolError(`malformed header line: ${JSON.stringify(line.slice(0, 60))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    this.status = Number(status[1]);
    // 100 Continue and other interim answers come before the real one.
    if (this.status < 200) return true;
    this.headers = headers;
    this.framing = framingOf(this.status, headers);
    if (this.framing.kind === 'length' && this.framing.left === 0) this.done = true;
    return true;
  }

  /** Takes what body bytes are here; false while waiting for more. */
  private readBody(f: Framing): boolean {
    if (f.kind !== 'chunked') {
      const take = f.kind === 'length' ? Math.min(f.left, this.buffered.length) : this.buffered.length;
      this.keep(this.buffered.subarray(0, take));
      this.buffered = this.buffered.subarray(take);
      if (f.kind === 'length') {
        f.left -= take;
        this.done = f.left === 0;
      }
      return false;
    }
    if (f.phase === 'data') {
      const take = Math.min(f.left, this.buffered.length);
      this.keep(this.buffered.subarray(0, take));
      this.buffered = this.buffered.subarray(take);
      f.left -= take;
      if (f.left > 0) return false;
      f.phase = 'data-end';
      return true;
    }
    // A size line, or the CRLF that ends a chunk's data.
    const eol = this.buffered.indexOf(CRLF);
    if (eol < 0) {
      if (this.buffered.length > 1024) throw protocolError('chunk size line over 1024 bytes');
      return false;
    }
    const line = this.buffered.subarray(0, eol).toString('latin1');
    this.buffered = this.buffered.subarray(eol + CRLF.length);
    if (f.phase === 'data-end') {
      if (line !== '') throw protocolError('a chunk is longer than its size');
      f.phase = 'size';
      return true;
    }
    const size = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/.exec(line);
    if (!size) throw protocolError(`malformed chunk size: ${JSON.stringify(line.slice(0, 60))}`);
    f.left = parseInt(size[1]!, 16);
    f.phase = 'data';
    // The last chunk: trailers, if any, are not needed, and the connection closes after them.
    if (f.left === 0) this.done = true;
    return true;
  }

  private keep(bytes: Buffer): void {
    const room = MAX_BODY - this.bodyBytes;
    if (room <= 0 || bytes.length === 0) return;
    const kept = bytes.length > room ? bytes.subarray(0, room) : bytes;
    this.body.push(Buffer.from(kept));
    this.bodyBytes += kept.length;
  }
}

function framingOf(status: number, headers: Record<string, string>): Framing {
  if (status === 204 || status === 304) return { kind: 'length', left: 0 };
  if (/(?:^|,)\s*chunked\s*$/i.test(headers['transfer-encoding'] ?? ''))
    return { kind: 'chunked', left: 0, phase: 'size' };
  const length = headers['content-length'];
  if (length === undefined) return { kind: 'close' };
  if (!/^\d{1,15}$/.test(length)) throw protocolError(`bad Content-Length: ${JSON.stringify(length)}`);
  return { kind: 'length', left: Number(length) };
}

function protocolError(what: string): TransportError {
  return new TransportError(`malformed HTTP response: ${what}`, 'EPROTO');
}
