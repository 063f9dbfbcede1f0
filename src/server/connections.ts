// Bounds what open connections can cost the lock server: each holds buffers and parser state, and an
// OOM kill of the DaemonSet pod is worse than refusing a few clients. Up to --max-connections are
// served as usual; PROBE_RESERVE more are accepted so the kubelet's probes and the metrics scrape
// still get through, but answer 503 (Connection: close) to anything else, and must send their request
// within EXCESS_GRACE_MS; beyond that a new connection is closed at once. Reaching the limit is
// logged once, and again once the count is back under it.
import type { RequestListener, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';

/** Idle keep-alive: short, since init containers send one request per connection anyway. */
export const IDLE_KEEP_ALIVE_MS = 5000;
export const PROBE_RESERVE = 64;
export const EXCESS_GRACE_MS = 2000;

const PROBES = new Set(['/healthz', '/readyz', '/metrics']);
const BUSY = JSON.stringify({
  error: 'too many connections to the lock server; retry shortly',
  reason: 'connections_full',
});

export class ConnectionLimit {
  private open = 0;
  private readonly excess = new WeakSet<Socket>();
  private full = false;

  constructor(
    private readonly max: number,
    private readonly log: Pick<Logger, 'warn' | 'info'>,
  ) {}

  /** Connections open right now (served and excess). */
  get count(): number {
    return this.open;
  }

  /** Counts the server's connections and bounds them; call before it listens. */
  attach(http: Server): void {
    http.maxConnections = this.max + PROBE_RESERVE;
    http.on('connection', (socket: Socket) => {
      this.open++;
      socket.once('close', () => {
        this.open--;
        if (this.full && this.open < this.max * 0.9) {
          this.full = false;
          this.log.info({ open: this.open, max: this.max }, 'connections back under --max-connections');
        }
      });
      if (this.open <= this.max) return;
      if (!this.full) {
        this.full = true;
        this.log.warn({ max: this.max }, 'connection limit reached: answering 503 to the excess');
      }
      this.excess.add(socket);
      socket.setTimeout(EXCESS_GRACE_MS, () => socket.destroy());
    });
  }

  /** Wraps the app: requests on excess connections get 503 unless they are probes. */
  guard(listener: RequestListener): RequestListener {
    return (req, res) => {
      if (!this.excess.has(req.socket)) return listener(req, res);
      res.setHeader('Connection', 'close');
      if (PROBES.has((req.url ?? '').split('?')[0] ?? '')) return listener(req, res);
      res.writeHead(503, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(BUSY),
        'Retry-After': '1',
      });
      res.end(BUSY);
    };
  }
}
