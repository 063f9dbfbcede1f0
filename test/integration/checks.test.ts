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
import { ConfigError } from '../../src/errors.js';
import { startProcess, startServer, stopAll, type Proc } from '../support/processes.js';
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
      const scheduler = await createCheckScheduler(
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
  describe('the real server process with --check', () => {
    afterEach(stopAll);

    /** Resolves once the n-th log line matching has been written. */
    const nth = (proc: Proc, n: number, match: (l: Record<string, unknown>) => boolean) =>
      proc.waitForLog(() => proc.logs().filter(match).length >= n, 5000);
    const lease = (url: string, holder: string, wait = 0) =>
      fetch(`${url}/v1/leases?holder=${holder}&wait=${wait}&duration=60`, { method: 'POST' });

    it('stops grants (423 checks_failing) while a check is down and resumes within --failHc/--passHc', async () => {
      const { server: dep, status } = flippingHttp();
      const depUrl = `http://127.0.0.1:${await listen(track(dep))}/healthz`;
      const tcp = track(createTcpServer((socket) => socket.destroy()));
      const tcpPort = await listen(tcp);
      const tcpUrl = `tcp://127.0.0.1:${tcpPort}`;
      const server = await startServer([
        '--check',
        depUrl,
        '--check',
        tcpUrl,
        '--failHc',
        '300ms',
        '--passHc',
        '300ms',
      ]);
      const isChange = (check: string, up: boolean) => (l: Record<string, unknown>) =>
        l.check === check && l.msg === (up ? 'dependency check up' : 'dependency check down');
      await nth(server, 1, isChange(depUrl, true));
      await nth(server, 1, isChange(tcpUrl, true));

      const first = await lease(server.url, 'ns/first');
      expect(first.status).to.equal(200);
      const { id } = (await first.json()) as { id: string };
      expect((await fetch(`${server.url}/v1/leases/${id}`, { method: 'DELETE' })).status).to.equal(204);

      // HTTP dependency turns 503: seen within --passHc (300ms) plus a probe.
      let t = Date.now();
      status.code = 503;
      await nth(server, 1, isChange(depUrl, false));
      const noticedDown = Date.now() - t;
      const denied = await lease(server.url, 'ns/second');
      expect(denied.status).to.equal(423);
      expect(await denied.json()).to.include({ reason: 'checks_failing' });
      const legacy = await fetch(`${server.url}/`);
      expect([legacy.status, await legacy.text()]).to.deep.equal([423, 'Locked']);
      const report = (await (await fetch(`${server.url}/v1/status`)).json()) as { checks: CheckState[] };
      const dependency = report.checks.find((c) => c.target === depUrl)!;
      expect(dependency).to.include({ up: false, lastError: 'HTTP 503 Service Unavailable' });
      expect(Date.parse(String(dependency.lastChange))).to.be.within(t, Date.now());
      expect(report.checks.find((c) => c.target === tcpUrl)).to.include({ up: true });

      // A long poll waiting while the check is down is granted once it is back (within --failHc).
      const waiting = lease(server.url, 'ns/second', 10);
      t = Date.now();
      status.code = 204;
      const granted = await waiting;
      const resumed = Date.now() - t;
      expect(granted.status).to.equal(200);
      await fetch(`${server.url}/v1/leases/${((await granted.json()) as { id: string }).id}`, {
        method: 'DELETE',
      });

      // The TCP dependency goes away and comes back.
      t = Date.now();
      await close(tcp);
      await nth(server, 1, isChange(tcpUrl, false));
      const tcpDown = Date.now() - t;
      expect(await (await lease(server.url, 'ns/third')).json()).to.include({ reason: 'checks_failing' });
      const waitingTcp = lease(server.url, 'ns/third', 10);
      t = Date.now();
      tcp.listen(tcpPort, '127.0.0.1');
      expect((await waitingTcp).status).to.equal(200);
      const tcpResumed = Date.now() - t;

      console.log(
        `      checks: down noticed after ${noticedDown}ms (http) / ${tcpDown}ms (tcp); ` +
          `grants resumed ${resumed}ms (http) / ${tcpResumed}ms (tcp) after recovery; intervals 300ms`,
      );
      for (const ms of [noticedDown, tcpDown, resumed, tcpResumed]) expect(ms).to.be.below(300 + 500);

      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).to.match(/startup_lock_lease_denials_total\{reason="checks_failing"\} [2-9]/);
      expect(metrics).to.include(`startup_lock_check_up{check="${depUrl}"} 1`);
      expect(metrics).to.match(
        new RegExp(`startup_lock_check_duration_seconds_count\\{check="${tcpUrl}"\\} \\d+`),
      );
      // One line per change, never one per probe.
      expect(server.logs().filter(isChange(depUrl, false))).to.have.length(1);
      expect(server.logs().filter(isChange(depUrl, true))).to.have.length(2);
    });

    it('refuses a malformed --check with exit 2 naming the option', async () => {
      const proc = startProcess(['server', '--port', '0', '--check', 'ftp://x', '--check', 'tcp://db']);
      const { code } = await proc.exited;
      expect(code).to.equal(2);
      expect(proc.output()).to.match(/--check: "ftp:\/\/x" is not allowed/);
      expect(proc.output()).to.match(/--check: "tcp:\/\/db" is not allowed/);
    });
    it('checks an https:// dependency against --check-ca-file, and refuses an unreadable CA file', async () => {
      const https = track(createHttpsServer({ key: ca.keyPem, cert: ca.certPem }, (_req, res) => res.end()));
      const target = `https://localhost:${await listen(https)}/healthz`;
      const untrusted = await startServer(['--check', target]);
      const line = await untrusted.waitForLog((l) => l.msg === 'dependency check down');
      expect(String(line.reason)).to.match(/certificate/i);
      const trusted = await startServer(['--check', target, '--check-ca-file', ca.caFile]);
      await trusted.waitForLog((l) => l.msg === 'dependency check up' && l.check === target);
      expect((await lease(trusted.url, 'ns/tls')).status).to.equal(200);

      const bad = startProcess([
        'server',
        '--port',
        '0',
        '--check',
        target,
        '--check-ca-file',
        `${ca.dir}/nope.pem`,
      ]);
      expect((await bad.exited).code).to.equal(2);
      expect(bad.output()).to.match(/--check-ca-file: cannot read/);
    });
  });
});
