// One probe attempt against real listeners on 127.0.0.1: what passes, what fails, and that an attempt
// never outlives its timeout.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { expect } from 'chai';
import { runProbe } from '../../src/server/pods/probe-attempt.js';

describe('holder probes: one attempt', function () {
  this.timeout(10_000);
  const servers: { close(cb: () => void): unknown }[] = [];
  const sockets = new Set<Socket>();

  afterEach(async () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  });

  async function http(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
  ): Promise<{ port: number; paths: string[] }> {
    const paths: string[] = [];
    const server: Server = createServer((req, res) => {
      paths.push(req.url ?? '');
      handler(req, res);
    });
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    return { port: (server.address() as AddressInfo).port, paths };
  }

  const get = (port: number, path = '/ready', timeoutMs = 1000) =>
    runProbe('127.0.0.1', { type: 'httpGet', scheme: 'HTTP', port, path, headers: [] }, timeoutMs);

  it('passes on 2xx and 3xx, without following a redirect', async () => {
    const ok = await http((_req, res) => void res.writeHead(204).end());
    expect(await get(ok.port)).to.deep.equal({ ok: true, detail: '204' });
    const moved = await http((req, res) => {
      if (req.url === '/ready') res.writeHead(302, { location: '/elsewhere' }).end();
      else res.writeHead(500).end();
    });
    expect(await get(moved.port)).to.deep.equal({ ok: true, detail: '302' });
    expect(moved.paths).to.deep.equal(['/ready']);
  });

  it('fails on 4xx and 5xx', async () => {
    const app = await http((req, res) => void res.writeHead(req.url === '/ready' ? 404 : 503).end());
    expect(await get(app.port)).to.deep.equal({ ok: false, detail: '404' });
    expect(await get(app.port, '/other')).to.deep.equal({ ok: false, detail: '503' });
  });

  it('answers a large body without reading all of it', async () => {
    const app = await http((_req, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(1024 * 1024, 'x'));
    });
    expect((await get(app.port)).ok).to.equal(true);
  });

  it('gives up on an app that accepts and never answers, within the timeout', async () => {
    const app = await http(() => undefined);
    const started = Date.now();
    const result = await get(app.port, '/ready', 200);
    expect(result).to.deep.equal({ ok: false, detail: 'timed out after 200 ms' });
    expect(Date.now() - started).to.be.below(1000);
  });

  it('tcpSocket: passes when the port accepts, fails when it refuses', async () => {
    const tcp = createTcpServer((s) => s.destroy());
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    servers.push(tcp);
    const { port } = tcp.address() as AddressInfo;
    expect(await runProbe('127.0.0.1', { type: 'tcpSocket', port }, 1000)).to.deep.equal({
      ok: true,
      detail: 'connected',
    });
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    expect(await runProbe('127.0.0.1', { type: 'tcpSocket', port }, 1000)).to.deep.equal({
      ok: false,
      detail: 'ECONNREFUSED',
    });
  });

  it('grpc: fails, within the timeout, against something that does not speak HTTP/2', async () => {
    const app = await http((_req, res) => void res.writeHead(200).end());
    const result = await runProbe('127.0.0.1', { type: 'grpc', port: app.port, service: '' }, 500);
    expect(result.ok).to.equal(false);
  });
});
