// The client's one-request transport over node:http against real sockets on 127.0.0.1: typed failures,
// the connected signal that --fail-open-after relies on, and aborts that really close the socket.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { expect } from 'chai';
import { Aborted, send, TransportError, type SendOptions } from '../../src/client/http.js';

describe('acquire client transport (node:http)', () => {
  let server: Server;
  let port: number;
  let handler: (req: IncomingMessage, res: ServerResponse) => void;
  const sockets = new Set<Socket>();

  beforeEach(async () => {
    handler = (_req, res) => res.end('ok');
    server = createServer((req, res) => handler(req, res));
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const options = (over: Partial<SendOptions> = {}): SendOptions => ({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/v1/leases?holder=ns%2Fp&wait=0',
    headers: { authorization: 'Bearer t' },
    timeoutMs: 2000,
    signal: new AbortController().signal,
    ...over,
  });

  it('returns status, headers and body, and reports the connection', async () => {
    let seen: { method?: string; url?: string; auth?: string } = {};
    handler = (req, res) => {
      seen = { method: req.method, url: req.url, auth: req.headers.authorization };
      res.writeHead(423, { 'retry-after': '1', 'content-type': 'application/json' });
      res.end('{"position":1}');
    };
    let connected = false;
    const answer = await send(options({ onConnected: () => (connected = true) }));
    expect(answer).to.deep.include({ status: 423, body: '{"position":1}' });
    expect(answer.headers['retry-after']).to.equal('1');
    expect(seen).to.deep.equal({ method: 'POST', url: '/v1/leases?holder=ns%2Fp&wait=0', auth: 'Bearer t' });
    expect(connected).to.equal(true);
  });

  it('fails with a TransportError (ECONNREFUSED) and no connection when nothing listens', async () => {
    const probe = createTcpServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    let connected = false;
    const err = await send(options({ port: closedPort, onConnected: () => (connected = true) })).catch(
      (e) => e,
    );
    expect(err).to.be.instanceOf(TransportError).and.include({ code: 'ECONNREFUSED' });
    expect(connected).to.equal(false);
  });

  it('fails with ETIMEDOUT when no answer comes in time, closing the socket', async () => {
    handler = () => {}; // never answers
    const err = await send(options({ timeoutMs: 150 })).catch((e) => e);
    expect(err).to.be.instanceOf(TransportError).and.include({ code: 'ETIMEDOUT' });
    await waitForNoSockets();
  });

  it('closes the socket at once when aborted, so the server sees the waiter go', async () => {
    const controller = new AbortController();
    // Aborted once the server holds the request, as SIGTERM arrives during a long poll.
    const closed = new Promise<void>((resolve) => {
      handler = (req) => {
        req.socket.on('close', () => resolve());
        controller.abort('SIGTERM');
      };
    });
    const err = await send(options({ signal: controller.signal })).catch((e) => e);
    expect(err).to.be.instanceOf(Aborted).and.include({ reason: 'SIGTERM' });
    await closed;
  });

  it('keeps at most 64 KiB of an oversized body', async () => {
    handler = (_req, res) => res.end('x'.repeat(200 * 1024));
    const answer = await send(options());
    expect(answer.status).to.equal(200);
    expect(answer.body.length).to.equal(64 * 1024);
  });

  it('reaches an IPv6 literal', async () => {
    const v6 = createServer((_req, res) => res.end('Lock acquired'));
    v6.listen(0, '::1');
    await once(v6, 'listening');
    try {
      const answer = await send(
        options({ host: '::1', port: (v6.address() as AddressInfo).port, method: 'GET', path: '/' }),
      );
      expect(answer).to.deep.include({ status: 200, body: 'Lock acquired' });
    } finally {
      v6.closeAllConnections();
      v6.close();
    }
  });

  async function waitForNoSockets(): Promise<void> {
    while (sockets.size > 0) await once([...sockets][0]!, 'close');
  }
});
