// The HTTP face of `startup-lock health`. `GET /` keeps the original k8s-health bodies (200
// `HealthCheck OK`, 412 `HealthCheck Failed`) and adds the reason; `/status` has the detail as JSON;
// `/healthz` and `/readyz` are the process's own probes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen } from '../listen.js';
import type { HealthReport } from './daemonset-health.js';

export interface HealthSource {
  report(): HealthReport;
  readonly synced: boolean;
}

export interface HealthHttp {
  port: number;
  close(): Promise<void>;
}

export async function startHealthHttp(source: HealthSource, host: string, port: number): Promise<HealthHttp> {
  const server: Server = createServer({ keepAliveTimeout: 5000 }, (req, res) => handle(source, req, res));
  return {
    port: await listen(server, host, port),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function handle(source: HealthSource, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'method not allowed');
  const path = new URL(req.url ?? '/', 'http://health').pathname;
  switch (path) {
    case '/': {
      const report = source.report();
      return report.healthy
        ? text(res, 200, 'HealthCheck OK')
        : text(res, 412, `HealthCheck Failed: ${report.reason}`);
    }
    case '/status': {
      const report = source.report();
      const body = JSON.stringify({ ...report, synced: source.synced });
      // Always 200: the verdict is in the body (`healthy`); `/` is the endpoint checks act on.
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    case '/healthz':
      return text(res, 200, 'ok');
    case '/readyz':
      // Ready once the first lists are in: before that, `/` can only say "waiting".
      return source.synced ? text(res, 200, 'ready') : text(res, 503, 'not ready: first list pending');
    default:
      return text(res, 404, 'not found');
  }
}

function text(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
