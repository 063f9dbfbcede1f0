// The client's one-request transport (HTTP/1.1 by hand over node:net) against real sockets on
// 127.0.0.1: node's own HTTP server in its framings, raw TCP servers for what a broken or foreign
// server does, typed failures, the connected signal that --fail-open-after relies on, and aborts
// that really close the socket.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { expect } from 'chai';
import { Aborted, send, TransportError, type SendOptions } from '../../src/client/http.js';

describe('acquire client transport (HTTP over node:net)', () => {
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
  const rawServers: NetServer[] = [];
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    for (const raw of rawServers.splice(0)) raw.close();
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

  it('reads a chunked body, and sends Host, Connection: close and Content-Length: 0 on a POST', async () => {
    let seen: IncomingMessage['headers'] = {};
    handler = (req, res) => {
      seen = req.headers;
      res.write('{"pos');
      setTimeout(() => res.end('ition":2}'), 20);
    };
    const answer = await send(options());
    expect(answer).to.deep.include({ status: 200, body: '{"position":2}' });
    expect(answer.headers['transfer-encoding']).to.equal('chunked');
    expect(seen).to.include({ host: `127.0.0.1:${port}`, connection: 'close', 'content-length': '0' });
  });

  it('answers a long poll without half-closing the connection, which would look like a waiter leaving', async () => {
    const raw = await rawServer((socket) => {
      let ended = false;
      socket.on('end', () => (ended = true));
      setTimeout(() => {
        socket.end(
          ended ? 'HTTP/1.1 500 X\r\n\r\nhalf-closed' : 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nheld',
        );
      }, 150);
    });
    const answer = await send(options({ port: raw.port }));
    expect(answer).to.deep.include({ status: 200, body: 'held' });
  });

  it('reads a body to the end of the connection when it has no length (an old or foreign server)', async () => {
    const raw = await rawServer((socket) => {
      socket.write('HTTP/1.0 423 Locked\r\nX-Twice: a\r\nx-twice: b\r\n\r\nLock is ');
      setTimeout(() => socket.end('busy'), 20);
    });
    const answer = await send(options({ port: raw.port, method: 'GET', path: '/' }));
    expect(answer).to.deep.equal({ status: 423, headers: { 'x-twice': 'a, b' }, body: 'Lock is busy' });
  });

  it('skips an interim 100 Continue and reads the answer after it', async () => {
    const raw = await rawServer((socket) =>
      socket.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    );
    expect(await send(options({ port: raw.port }))).to.deep.include({ status: 200, body: 'ok' });
  });

  for (const [what, reply, code] of [
    ['a server that closes before answering', '', 'ECONNRESET'],
    [
      'an answer cut short of its Content-Length',
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort',
      'ECONNRESET',
    ],
    [
      'a chunked answer cut short',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
      'ECONNRESET',
    ],
    ['something that is not HTTP', 'SSH-2.0-OpenSSH_9.2\r\n\r\n', 'EPROTO'],
    ['a bad Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'EPROTO'],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'EPROTO'],
    [
      'a chunk longer than its size',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n',
      'EPROTO',
    ],
    ['headers over 16 KiB', `HTTP/1.1 200 OK\r\nX: ${'x'.repeat(17 * 1024)}`, 'EPROTO'],
  ] as const) {
    it(`fails with a TransportError (${code}) on ${what}, after reporting the connection`, async () => {
      const raw = await rawServer((socket) => socket.end(reply));
      let connected = false;
      const err = await send(options({ port: raw.port, onConnected: () => (connected = true) })).catch(
        (e) => e,
      );
      expect(err).to.be.instanceOf(TransportError).and.include({ code });
      expect(connected).to.equal(true);
    });
  }

  it('refuses a header or path that would split the request, sending nothing', async () => {
    let connections = 0;
    server.on('connection', () => connections++);
    for (const bad of [
      options({ headers: { authorization: 'Bearer t\r\nX-Injected: 1' } }),
      options({ path: '/v1/leases?holder=a b' }),
      options({ headers: { 'bad name': 'x' } }),
    ]) {
      const err = await send(bad).catch((e) => e);
      expect(err).to.be.instanceOf(TypeError);
    }
    expect(connections).to.equal(0);
  });

  /** A TCP server that plays a broken or foreign HTTP server; closed after the test. */
  async function rawServer(onRequest: (socket: Socket) => void): Promise<{ port: number }> {
    const raw = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.once('data', () => onRequest(socket));
    });
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    rawServers.push(raw);
    return { port: (raw.address() as AddressInfo).port };
  }

  async function waitForNoSockets(): Promise<void> {
    while (sockets.size > 0) await once([...sockets][0]!, 'close');
  }
});
