// Dependency checks against real listeners on 127.0.0.1 (and ::1): a TCP server that comes and goes,
// an HTTP server that flips between 503 and 204, an HTTPS server with a throw-away private CA.
import { EventEmitter, once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { expect } from 'chai';
import { createCheckScheduler, readCaFile } from '../../src/checks/create.js';
import { HttpProber } from '../../src/checks/http.js';
import type { CheckScheduler } from '../../src/checks/scheduler.js';
import { probeTcp } from '../../src/checks/tcp.js';
import type { CheckState } from '../../src/checks/types.js';
import { systemClock } from '../../src/clock.js';
import { ConfigError } from '../../src/config/load.js';
import { makeThrowawayCa, type ThrowawayCa } from '../support/throwaway-ca.js';

const signal = () => AbortSignal.timeout(2000);

async function listen<S extends HttpServer | TcpServer>(
  server: S,
  host = '127.0.0.1',
  port = 0,
): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function close(server: HttpServer | TcpServer): Promise<void> {
  if (!server.listening) return;
  (server as HttpServer).closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** An HTTP health endpoint whose status the test sets; it counts the connections it accepted. */
function flippingHttp(): { server: HttpServer; status: { code: number }; connections: () => number } {
  const status = { code: 204 };
  let connections = 0;
  const server = createHttpServer((req, res) => {
    if (req.url === '/redirect') {
      res.writeHead(302, { location: '/' }).end();
      return;
    }
    res.writeHead(status.code).end(status.code === 503 ? 'not yet' : undefined);
  });
  server.on('connection', () => connections++);
  return { server, status, connections: () => connections };
}

describe('dependency checks (real listeners)', function () {
  const started: Array<HttpServer | TcpServer> = [];
  const schedulers: CheckScheduler[] = [];
  const probers: HttpProber[] = [];
  let ca: ThrowawayCa;

  before(() => {
    ca = makeThrowawayCa();
  });
  after(() => ca.remove());
  afterEach(async () => {
    for (const s of schedulers.splice(0)) await s.close();
    for (const p of probers.splice(0)) p.close();
    for (const s of started.splice(0)) await close(s);
  });

  function track<S extends HttpServer | TcpServer>(server: S): S {
    started.push(server);
    return server;
  }
  function prober(options: { ca?: string } = {}): HttpProber {
    const p = new HttpProber({ timeoutMs: 2000, ...options });
    probers.push(p);
    return p;
  }

  describe('tcp://', () => {
    it('is up while a listener accepts and down with the reason once it is gone', async () => {
      const server = track(createTcpServer((socket) => socket.destroy()));
      const port = await listen(server);
      expect(await probeTcp(`tcp://127.0.0.1:${port}`, signal())).to.deep.equal({ up: true, error: null });
      await close(server);
      const result = await probeTcp(`tcp://127.0.0.1:${port}`, signal());
      expect(result.up).to.equal(false);
      expect(result.error).to.match(/ECONNREFUSED/);
    });

    it('reaches an IPv6 literal in brackets (tcp://[::1]:port)', async () => {
      const server = track(createTcpServer((socket) => socket.destroy()));
      const port = await listen(server, '::1');
      expect((await probeTcp(`tcp://[::1]:${port}`, signal())).up).to.equal(true);
    });

    it('stops at once with the abort reason when its signal aborts', async () => {
      const controller = new AbortController();
      // Aborted before the connect can settle, so the result is the abort's, deterministically.
      const pending = probeTcp('tcp://127.0.0.1:9', controller.signal);
      controller.abort(new Error('timed out after 5ms'));
      expect(await pending).to.deep.equal({ up: false, error: 'timed out after 5ms' });
    });
  });

  describe('http:// and https://', () => {
    it('is up on 2xx and down on 503, reusing one keep-alive connection', async () => {
      const { server, status, connections } = flippingHttp();
      const port = await listen(track(server));
      const p = prober();
      const url = `http://127.0.0.1:${port}/healthz`;
      expect(await p.probe(url, signal())).to.deep.equal({ up: true, error: null });
      status.code = 503;
      expect(await p.probe(url, signal())).to.deep.equal({
        up: false,
        error: 'HTTP 503 Service Unavailable',
      });
      status.code = 200;
      expect((await p.probe(url, signal())).up).to.equal(true);
      expect(connections()).to.equal(1);
    });

    it('does not follow redirects: a 302 is down', async () => {
      const { server } = flippingHttp();
      const port = await listen(track(server));
      const result = await prober().probe(`http://127.0.0.1:${port}/redirect`, signal());
      expect(result).to.deep.equal({ up: false, error: 'HTTP 302 Found' });
    });

    it('is down when nothing listens', async () => {
      const server = track(createTcpServer());
      const port = await listen(server);
      await close(server);
      const result = await prober().probe(`http://127.0.0.1:${port}/`, signal());
      expect(result.up).to.equal(false);
      expect(result.error).to.match(/ECONNREFUSED/);
    });

    it('is down when the endpoint does not answer before the signal aborts', async () => {
      const server = track(createHttpServer(() => {})); // never responds
      const port = await listen(server);
      const result = await prober().probe(`http://127.0.0.1:${port}/`, AbortSignal.timeout(100));
      expect(result.up).to.equal(false);
    });

    it('treats a certificate from an untrusted CA as down and trusts it with --check-ca-file', async () => {
      const server = track(
        createHttpsServer({ key: ca.keyPem, cert: ca.certPem }, (_req, res) => res.end('ok')),
      );
      const port = await listen(server);
      const url = `https://127.0.0.1:${port}/healthz`;
      const untrusted = await prober().probe(url, signal());
      expect(untrusted.up).to.equal(false);
      expect(untrusted.error).to.match(/certificate/i);
      expect(await prober({ ca: readCaFile(ca.caFile) }).probe(url, signal())).to.deep.equal({
        up: true,
        error: null,
      });
    });
  });

  describe('--check-ca-file', () => {
    it('is a usage error naming the option when the file is missing or holds no certificate', () => {
      expect(() => readCaFile('/nonexistent/ca.pem'))
        .to.throw(ConfigError)
        .with.property('message')
        .that.matches(/^--check-ca-file: cannot read/);
      expect(() => readCaFile(ca.dir + '/ext.cnf'))
        .to.throw(ConfigError)
        .with.property('message')
        .that.matches(/no PEM certificate/);
    });
  });

  describe('the scheduler on the system clock', () => {
    const config = (check: string[]) => ({
      check,
      failHc: 100,
      passHc: 100,
      checkTimeout: 500,
      checkCaFile: ca.caFile,
    });

    /** Resolves with the time it took once the gate is `up`, judged at each state change (no polling). */
    function waitFor(scheduler: CheckScheduler, changes: EventEmitter, up: boolean): Promise<number> {
      const startedAt = Date.now();
      if (scheduler.allUp() === up) return Promise.resolve(0);
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => {
          changes.off('change', onChange);
          reject(new Error(`gate never became ${up}`));
        }, 3000);
        const onChange = () => {
          if (scheduler.allUp() !== up) return;
          clearTimeout(deadline);
          changes.off('change', onChange);
          resolve(Date.now() - startedAt);
        };
        changes.on('change', onChange);
      });
    }

    it('closes the gate when a dependency goes away and reopens it within --failHc of its return', async () => {
      const tcp = track(createTcpServer((socket) => socket.destroy()));
      const tcpPort = await listen(tcp);
      const { server: http, status } = flippingHttp();
      const httpPort = await listen(track(http));
      const https = track(createHttpsServer({ key: ca.keyPem, cert: ca.certPem }, (_req, res) => res.end()));
      const httpsPort = await listen(https);
      const changes: CheckState[] = [];
      const events = new EventEmitter();
      const scheduler = createCheckScheduler(
        config([
          `tcp://127.0.0.1:${tcpPort}`,
          `http://127.0.0.1:${httpPort}/healthz`,
          `https://localhost:${httpsPort}/healthz`,
        ]),
        systemClock,
        {
          onChange: (s) => {
            changes.push(s);
            events.emit('change');
          },
        },
      );
      schedulers.push(scheduler);
      scheduler.start();
      await waitFor(scheduler, events, true);

      status.code = 503;
      expect(await waitFor(scheduler, events, false)).to.be.below(400);
      expect(scheduler.states()[1]).to.include({ up: false, lastError: 'HTTP 503 Service Unavailable' });
      status.code = 204;
      expect(await waitFor(scheduler, events, true)).to.be.below(400);

      await close(tcp);
      expect(await waitFor(scheduler, events, false)).to.be.below(400);
      tcp.listen(tcpPort, '127.0.0.1');
      await once(tcp, 'listening');
      expect(await waitFor(scheduler, events, true)).to.be.below(400);

      const flips = changes.filter((c) => c.target.startsWith('http:')).map((c) => c.up);
      expect(flips).to.deep.equal([true, false, true]);
    });
  });
});
