// A request and a response with no socket behind them, for driving the server's request paths
// (src/server/long-poll.ts, legacy.ts) in unit tests: what was written, and how many times.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';

export class FakeResponse extends EventEmitter {
  statusCode = 0;
  readonly headers: Record<string, string> = {};
  body = '';
  writableEnded = false;
  /** How many times end() was called: every request is answered exactly once. */
  ends = 0;

  setHeader(name: string, value: string | number): this {
    this.headers[name.toLowerCase()] = String(value);
    return this;
  }

  writeHead(status: number, headers: Record<string, string | number> = {}): this {
    this.statusCode = status;
    for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
    return this;
  }

  end(body = ''): this {
    this.body = body;
    this.writableEnded = true;
    this.ends++;
    return this;
  }

  json(): Record<string, unknown> {
    return JSON.parse(this.body) as Record<string, unknown>;
  }

  /** As the server sees it. */
  get res(): ServerResponse {
    return this as unknown as ServerResponse;
  }
}

export interface FakeRequest {
  method: string;
  url: string;
  socket: { destroyed: boolean; remoteAddress: string };
}

export function fakeRequest(url: string, method = 'GET', remoteAddress = '10.0.0.7'): FakeRequest {
  return { method, url, socket: { destroyed: false, remoteAddress } };
}

/** The client goes away: its socket is destroyed and the response emits `close`, unanswered. */
export function hangUp(req: FakeRequest, res: FakeResponse): void {
  req.socket.destroyed = true;
  res.emit('close');
}

export function asRequest(req: FakeRequest): IncomingMessage {
  return req as unknown as IncomingMessage;
}
