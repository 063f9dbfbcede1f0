// A stand-in for an old pod-startup-lock lock service, as its users saw it: every path and method takes
// the lock, `200 Lock acquired` when it was free and `423 Locked` otherwise; no /v1, no JSON. The test
// holds or frees the lock by hand and reads what was asked.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class LegacyLockServer {
  readonly requests: Array<{ method: string; url: string; at: number }> = [];
  private readonly server: Server;
  private held: boolean;

  constructor(options: { held?: boolean } = {}) {
    this.held = options.held ?? false;
    this.server = createServer((req, res) => {
      this.requests.push({ method: req.method ?? '', url: req.url ?? '', at: Date.now() });
      req.resume();
      const granted = !this.held;
      this.held = true;
      res.writeHead(granted ? 200 : 423, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(granted ? 'Lock acquired' : 'Locked');
    });
  }

  /** Listens on an ephemeral port of `host`; resolves with the port. */
  async listen(host = '127.0.0.1'): Promise<number> {
    this.server.listen(0, host);
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  /** The lock is free again: the next request of any kind gets it. */
  release(): void {
    this.held = false;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
