import { expect } from 'chai';
import {
  acquire,
  hostForUrl,
  UNAUTHORIZED_RETRY_MS,
  type AcquireOptions,
  type Outcome,
} from '../../src/client/acquire.js';
import { Backoff } from '../../src/backoff.js';
import {
  Aborted,
  TransportError,
  type HttpAnswer,
  type Send,
  type SendOptions,
} from '../../src/client/http.js';
import { createClientLogger } from '../../src/client/log.js';
import { ManualClock, settle } from '../support/fake-clock.js';

const SEC = 1000;

/**
 * What the fake server does with one request: answer (after a while), refuse, reset, hang after
 * connecting, or never connect at all (`black-hole`, a SYN into the void).
 */
type Reply =
  { answer: HttpAnswer; afterMs?: number } | { refuse: string } | { reset: string } | 'hang' | 'black-hole';

const json = (status: number, body: object, headers: Record<string, string> = {}): HttpAnswer => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
const text = (status: number, body: string, headers: Record<string, string> = {}): HttpAnswer => ({
  status,
  headers,
  body,
});
const LEASE = json(200, { id: 'l-1', holder: 'ns/pod', slot: 0, expiresAt: '2030-01-01T00:00:00Z' });
const waiting = (position: number, queueLength: number, reason = 'timeout') =>
  json(423, { position, queueLength, reason }, { 'retry-after': '1' });

class FakeServer {
  calls: Array<SendOptions & { at: number }> = [];
  private replies: Array<Reply | ((o: SendOptions) => Reply)> = [];
  fallback: Reply = 'hang';

  constructor(private readonly clock: ManualClock) {}

  then(...replies: Array<Reply | ((o: SendOptions) => Reply)>): this {
    this.replies.push(...replies);
    return this;
  }

  send: Send = (options) => {
    this.calls.push({ ...options, at: this.clock.now() });
    // The reply is picked a tick later: the first request is sent before the test has scripted any.
    return Promise.resolve().then(() => this.reply(options));
  };

  private reply(options: SendOptions): Promise<HttpAnswer> {
    const next = this.replies.shift() ?? this.fallback;
    const reply = typeof next === 'function' ? next(options) : next;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new Aborted(options.signal.reason));
      options.signal.addEventListener('abort', onAbort, { once: true });
      if (reply === 'black-hole') return;
      if (reply !== 'hang' && 'refuse' in reply) {
        reject(new TransportError(`connect ${reply.refuse}`, reply.refuse));
        return;
      }
      options.onConnected?.();
      if (reply === 'hang') return;
      if ('reset' in reply) {
        reject(new TransportError('socket hang up', reply.reset));
        return;
      }
      this.clock.setTimer(reply.afterMs ?? 0, () => {
        options.signal.removeEventListener('abort', onAbort);
        resolve(reply.answer);
      });
    });
  }
}

function harness(overrides: Partial<AcquireOptions> = {}) {
  const clock = new ManualClock();
  const server = new FakeServer(clock);
  const lines: Array<Record<string, unknown>> = [];
  const log = createClientLogger('acquire', 'info', (line) =>
    lines.push(JSON.parse(line) as Record<string, unknown>),
  );
  const stop = new AbortController();
  const options: AcquireOptions = {
    host: '127.0.0.1',
    port: 8888,
    holder: 'ns/pod',
    uid: '',
    durationMs: 0,
    pauseMs: SEC,
    timeoutMs: 0,
    failOpenAfterMs: 0,
    waitMs: 55 * SEC,
    token: null,
    ...overrides,
  };
  let outcome: Outcome | undefined;
  const done = acquire(options, {
    clock,
    send: server.send,
    log,
    signal: stop.signal,
    random: () => 0.5,
  }).then((o) => (outcome = o));
  const msgs = () => lines.map((l) => String(l.msg));
  return { clock, server, lines, msgs, stop, done, result: () => outcome, started: clock.now() };
}

const query = (call: SendOptions) => new URLSearchParams(call.path.split('?')[1] ?? '');

describe('acquire client (state machine)', () => {
  it('asks the lease API with a long poll and exits acquired on a lease', async () => {
    const h = harness({
      uid: 'u-1',
      durationMs: 30 * SEC,
      token: 's3cret',
      client: 'c0ffee-0123456789abcdef',
    });
    h.server.then({ answer: LEASE, afterMs: 2 * SEC });
    await h.clock.advance(2 * SEC);
    expect(await h.done).to.deep.equal({ kind: 'acquired', api: 'v1', waitedMs: 2 * SEC });
    const [call] = h.server.calls;
    expect(call!.method).to.equal('POST');
    expect(call!.path.split('?')[0]).to.equal('/v1/leases');
    expect(Object.fromEntries(query(call!))).to.deep.equal({
      holder: 'ns/pod',
      uid: 'u-1',
      client: 'c0ffee-0123456789abcdef',
      duration: '30',
      wait: '0',
    });
    expect(call!.headers.authorization).to.equal('Bearer s3cret');
    expect(h.lines.at(-1)).to.include({ msg: 'lock acquired', lease: 'l-1', api: 'v1', waitedSeconds: 2 });
  });

  it('looks first without waiting to log its place, then long-polls at once', async () => {
    const h = harness();
    h.server.then({ answer: waiting(2, 3, 'locked') }).then({ answer: LEASE, afterMs: 10 * SEC });
    await h.clock.advance(10 * SEC);
    expect((await h.done).kind).to.equal('acquired');
    expect(h.server.calls.map((c) => [c.at - h.started, query(c).get('wait')])).to.deep.equal([
      [0, '0'],
      [0, '55'],
    ]);
    expect(h.server.calls[1]!.timeoutMs).to.be.greaterThan(55 * SEC);
    expect(h.msgs()).to.deep.equal([
      'waiting for the startup lock',
      'waiting at position 2 of 3',
      'lock acquired',
    ]);
  });

  it('polls again at once after a long poll that waited, logging the position only when it changes', async () => {
    const h = harness();
    h.server
      .then({ answer: waiting(3, 3, 'locked') }) // the quick look
      .then({ answer: waiting(3, 3), afterMs: 55 * SEC })
      .then({ answer: waiting(3, 4), afterMs: 55 * SEC })
      .then({ answer: waiting(2, 4), afterMs: 55 * SEC })
      .then({ answer: LEASE, afterMs: 10 * SEC });
    await h.clock.advance(175 * SEC);
    expect((await h.done).kind).to.equal('acquired');
    expect(h.server.calls.map((c) => c.at - h.started)).to.deep.equal([0, 0, 55 * SEC, 110 * SEC, 165 * SEC]);
    expect(h.msgs()).to.deep.equal([
      'waiting for the startup lock',
      'waiting at position 3 of 3',
      'waiting at position 2 of 4',
      'lock acquired',
    ]);
  });

  it('does not repeat a quick 423 faster than --pause, and takes a shorter Retry-After as the cap', async () => {
    const h = harness({ pauseMs: 3 * SEC });
    h.server
      .then({ answer: waiting(1, 1, 'locked') }) // the quick look
      .then({ answer: json(423, { position: 1, queueLength: 1, reason: 'checks_failing' }), afterMs: 100 })
      .then({ answer: waiting(1, 1, 'draining'), afterMs: 0 }) // Retry-After: 1 < --pause
      .then({ answer: LEASE });
    await h.clock.advance(10 * SEC);
    expect(h.server.calls.map((c) => c.at - h.started)).to.deep.equal([0, 0, 3 * SEC, 4 * SEC]);
    expect(h.lines[2]).to.include({ reason: 'checks_failing', position: 1, queueLength: 1 });
  });

  it('falls back to the legacy GET / when the server has no /v1, polling every --pause', async () => {
    const h = harness({ durationMs: 20 * SEC });
    h.server
      .then({ answer: text(404, 'Not found\n') })
      .then({ answer: text(423, 'Locked') }, { answer: text(423, 'Locked') })
      .then({ answer: text(200, 'Lock acquired') });
    await h.clock.advance(5 * SEC);
    expect(await h.done).to.include({ kind: 'acquired', api: 'legacy' });
    expect(h.server.calls.map((c) => `${c.method} ${c.path} +${c.at - h.started}`)).to.deep.equal([
      'POST /v1/leases?holder=ns%2Fpod&duration=20&wait=0 +0',
      'GET /?duration=20 +0',
      'GET /?duration=20 +1000',
      'GET /?duration=20 +2000',
    ]);
    expect(h.msgs()).to.deep.equal([
      'waiting for the startup lock',
      'server has no lease API: fell back to legacy API',
      'waiting: lock busy',
      'lock acquired',
    ]);
  });

  it('logs the fall-back to legacy once against a server that answers 404 to everything', async () => {
    const h = harness();
    h.server.fallback = { answer: text(404, 'Not found\n') };
    await h.clock.advance(60 * SEC);
    expect(h.server.calls.length).to.be.greaterThan(10);
    expect(h.msgs()).to.deep.equal([
      'waiting for the startup lock',
      'server has no lease API: fell back to legacy API',
      'unexpected answer from the lock server, retrying',
    ]);
    h.stop.abort('SIGTERM');
    await h.done;
  });

  it('takes "Lock acquired" from an old server that answers every path as a grant', async () => {
    const h = harness();
    h.server.then({ answer: text(200, 'Lock acquired') });
    await h.clock.advance(0);
    expect(await h.done).to.include({ kind: 'acquired', api: 'legacy' });
    expect(h.server.calls).to.have.length(1);
  });

  it('switches to the legacy API when an old server answers the lease API with a plain "Locked"', async () => {
    const h = harness();
    h.server.then({ answer: text(423, 'Locked') }).then({ answer: text(200, 'Lock acquired') });
    await h.clock.advance(0);
    expect(await h.done).to.include({ kind: 'acquired', api: 'legacy' });
    expect(h.server.calls.map((c) => c.method)).to.deep.equal(['POST', 'GET']);
  });

  it('retries refused connections with capped, jittered backoff and logs "unreachable" once', async () => {
    const h = harness();
    for (let i = 0; i < 8; i++) h.server.then({ refuse: 'ECONNREFUSED' });
    h.server.then({ answer: waiting(1, 1), afterMs: 55 * SEC }).then({ answer: LEASE });
    await h.clock.advance(200 * SEC);
    expect((await h.done).kind).to.equal('acquired');
    const at = h.server.calls.map((c) => c.at - h.started);
    const gaps = at.slice(1, 9).map((t, i) => t - at[i]!);
    // random() = 0.5: three quarters of 200, 400, 800, 1600, 3200, then the 5 s cap.
    expect(gaps).to.deep.equal([150, 300, 600, 1200, 2400, 3750, 3750, 3750]);
    expect(h.msgs().filter((m) => m === 'lock server unreachable, retrying')).to.have.length(1);
    expect(h.msgs()).to.include('waiting at position 1 of 1');
  });

  it('retries 5xx with backoff, logging it once', async () => {
    const h = harness();
    h.server.then({ answer: text(503, 'busy') }, { answer: text(502, 'bad gateway') }, { answer: LEASE });
    await h.clock.advance(5 * SEC);
    expect((await h.done).kind).to.equal('acquired');
    expect(h.msgs().filter((m) => m.startsWith('unexpected answer'))).to.have.length(2); // 503, then 502
  });

  it('backs off on 429 (queue full) for at least Retry-After', async () => {
    const h = harness();
    h.server
      .then({ answer: json(429, { reason: 'queue_full' }, { 'retry-after': '5' }) })
      .then({ answer: LEASE });
    await h.clock.advance(10 * SEC);
    expect(h.server.calls.map((c) => c.at - h.started)).to.deep.equal([0, 5 * SEC]);
    expect(h.msgs()).to.include('lock server queue is full, backing off');
  });

  it('waits without failing open while its holder is taken by another client (409), logging it once', async () => {
    const h = harness({ failOpenAfterMs: 3 * SEC, pauseMs: SEC });
    const taken = json(409, { error: 'holder ns/pod is held by another client', reason: 'taken' });
    h.server.then(...Array.from({ length: 8 }, () => ({ answer: taken })), { answer: LEASE });
    await h.clock.advance(60 * SEC);
    expect(await h.done).to.include({ kind: 'acquired' });
    expect(h.server.calls).to.have.length(9);
    expect(h.msgs().filter((m) => m.includes('held or queued by another acquire process'))).to.have.length(1);
  });

  it('gives up with bad usage and the server reason on 400', async () => {
    const h = harness();
    h.server.then({
      answer: json(400, { error: 'duration must be a whole number of seconds from 1 to 600' }),
    });
    await h.clock.advance(0);
    expect(await h.done).to.deep.equal({
      kind: 'bad-usage',
      message:
        'the lock server refused the request: duration must be a whole number of seconds from 1 to 600',
    });
  });

  it('names the token on 401', async () => {
    const without = harness();
    without.server.then({ answer: json(401, { error: 'a valid bearer token is required' }) });
    await without.clock.advance(0);
    expect(await without.done).to.deep.include({ kind: 'bad-usage' });
    expect((without.result() as { message: string }).message).to.match(
      /requires a bearer token: pass --token-file/,
    );
  });

  it('retries a refused token with backoff for 30 s, logging once, then gives up as bad usage', async () => {
    const wrong = harness({ token: 'nope' });
    wrong.server.fallback = { answer: json(401, { error: 'a valid bearer token is required' }) };
    await wrong.clock.advance(UNAUTHORIZED_RETRY_MS - 5 * SEC);
    expect(wrong.result()).to.equal(undefined);
    await wrong.clock.advance(5 * SEC);
    expect(((await wrong.done) as { message: string }).message).to.equal(
      'the lock server refused the token from --token-file (HTTP 401): a valid bearer token is required',
    );
    expect(wrong.server.calls.length).to.be.within(5, 20);
    expect(wrong.msgs().filter((m) => m.startsWith('the lock server refused the token'))).to.have.length(1);
  });

  it('retries a refused token with the file read again, and is granted once the server takes it', async () => {
    let file = 'old';
    const h = harness({ token: 'old', rereadToken: () => file });
    const server = (o: SendOptions): Reply =>
      o.headers.authorization === 'Bearer new' ? { answer: LEASE } : { answer: json(401, { error: 'no' }) };
    for (let i = 0; i < 20; i++) h.server.then(server);
    await h.clock.advance(SEC);
    expect(h.result()).to.equal(undefined);
    file = 'new';
    await h.clock.advance(5 * SEC);
    expect((await h.done).kind).to.equal('acquired');
    expect(h.msgs()).to.include('token file changed: retrying with the new token');
  });

  it('gives up on a refused token at --timeout when that comes first, as bad usage', async () => {
    const h = harness({ token: 'nope', timeoutMs: 3 * SEC });
    h.server.fallback = { answer: json(401, { error: 'no' }) };
    await h.clock.advance(3 * SEC);
    expect((await h.done).kind).to.equal('bad-usage');
  });

  it('times out after --timeout, cutting the open long poll, which never waits past the deadline', async () => {
    const h = harness({ timeoutMs: 20 * SEC });
    h.server.then({ answer: waiting(1, 1, 'locked'), afterMs: 500 }).then('hang');
    await h.clock.advance(20 * SEC);
    expect(await h.done).to.deep.equal({ kind: 'timed-out', waitedMs: 20 * SEC });
    expect(query(h.server.calls[1]!).get('wait')).to.equal('19500ms');
    expect(h.server.calls[1]!.signal.aborted).to.equal(true);
    expect(h.msgs().at(-1)).to.equal('timed out waiting for the startup lock');
  });

  it('fails open after --fail-open-after of nothing but connection errors', async () => {
    const h = harness({ failOpenAfterMs: 10 * SEC });
    h.server.fallback = { refuse: 'ECONNREFUSED' };
    await h.clock.advance(10 * SEC);
    expect(await h.done).to.deep.equal({ kind: 'failed-open', waitedMs: 10 * SEC });
    expect(h.lines.at(-1)).to.include({ level: 'warn' });
  });

  it('fails open while a connection attempt hangs unanswered', async () => {
    const h = harness({ failOpenAfterMs: 3 * SEC });
    h.server.fallback = 'black-hole';
    await h.clock.advance(3 * SEC);
    expect(await h.done).to.deep.equal({ kind: 'failed-open', waitedMs: 3 * SEC });
    expect(h.server.calls).to.have.length(1);
    expect(h.server.calls[0]!.signal.aborted).to.equal(true);
  });

  it('never fails open while the server answers, however busy', async () => {
    const h = harness({ failOpenAfterMs: 500, pauseMs: SEC });
    h.server.fallback = { answer: waiting(2, 2, 'locked') };
    await h.clock.advance(30 * SEC);
    expect(h.result()).to.equal(undefined);
    h.stop.abort('SIGTERM');
    expect(await h.done).to.deep.equal({ kind: 'stopped', reason: 'SIGTERM' });
  });

  it('counts absence from the last valid answer: a server that vanishes mid-wait fails open after D', async () => {
    const h = harness({ failOpenAfterMs: 5 * SEC });
    h.server.then({ answer: waiting(1, 2, 'locked') }, { answer: waiting(1, 2), afterMs: 55 * SEC });
    h.server.fallback = { refuse: 'ECONNREFUSED' };
    await h.clock.advance(55 * SEC + 4 * SEC);
    expect(h.result()).to.equal(undefined);
    await h.clock.advance(SEC);
    expect(await h.done).to.deep.equal({ kind: 'failed-open', waitedMs: 60 * SEC });
  });

  it('fails open against a server that accepts connections and never answers (wedged)', async () => {
    const h = harness({ failOpenAfterMs: 10 * SEC });
    h.server.fallback = 'hang';
    await h.clock.advance(10 * SEC);
    expect(await h.done).to.deep.equal({ kind: 'failed-open', waitedMs: 10 * SEC });
    expect(h.msgs().at(-1)).to.equal(
      'no valid answer from a lock server: starting without the lock (--fail-open-after)',
    );
  });

  it('fails open against a server that accepts and resets, or answers garbage, for D', async () => {
    const garbage: Reply[] = [
      { reset: 'ECONNRESET' },
      { reset: 'EPROTO' }, // not HTTP at all: the reader's protocol error
      { answer: text(200, 'SSH-2.0-OpenSSH_9.6\r\n') },
      { answer: text(500, 'Internal Server Error') },
      { answer: text(423, 'go away') },
      { answer: text(404, 'Not found\n') },
      { answer: json(429, { message: 'slow down' }) },
    ];
    for (const reply of garbage) {
      const h = harness({ failOpenAfterMs: 30 * SEC });
      h.server.fallback = reply;
      await h.clock.advance(29 * SEC);
      expect(h.result(), JSON.stringify(reply)).to.equal(undefined);
      await h.clock.advance(SEC);
      expect(await h.done, JSON.stringify(reply)).to.deep.equal({ kind: 'failed-open', waitedMs: 30 * SEC });
    }
  });

  it('never fails open while properly queued: long polls that wait their full time count as answers', async () => {
    const h = harness({ failOpenAfterMs: 5 * SEC });
    h.server.then({ answer: waiting(3, 3, 'locked') });
    h.server.fallback = { answer: waiting(3, 3), afterMs: 55 * SEC };
    await h.clock.advance(600 * SEC);
    expect(h.result()).to.equal(undefined);
    expect(h.server.calls.length).to.equal(12); // the quick look, then one every 55 s
    h.stop.abort('SIGTERM');
    expect((await h.done).kind).to.equal('stopped');
  });

  it('lets a long poll run to its end (wait + slack) before it counts, then fails open', async () => {
    const h = harness({ failOpenAfterMs: 5 * SEC });
    h.server.then({ answer: waiting(1, 1, 'locked') }, 'hang');
    await h.clock.advance(65 * SEC - 1);
    expect(h.result()).to.equal(undefined);
    await h.clock.advance(1);
    expect(await h.done).to.deep.equal({ kind: 'failed-open', waitedMs: 65 * SEC });
    expect(h.server.calls).to.have.length(2);
  });

  it('stops at once on SIGTERM, closing the open long poll', async () => {
    const h = harness();
    h.server.then('hang');
    await settle();
    h.stop.abort('SIGTERM');
    expect(await h.done).to.deep.equal({ kind: 'stopped', reason: 'SIGTERM' });
    expect(h.server.calls[0]!.signal.aborted).to.equal(true);
  });

  it('brackets IPv6 literals in URLs and logs', () => {
    expect(hostForUrl('::1')).to.equal('[::1]');
    expect(hostForUrl('[::1]')).to.equal('[::1]');
    expect(hostForUrl('10.0.0.7')).to.equal('10.0.0.7');
    const h = harness({ host: 'fd00::7' });
    expect(h.lines[0]).to.include({ server: 'http://[fd00::7]:8888' });
    h.stop.abort('SIGTERM');
  });
});

describe('client backoff and logger', () => {
  it('doubles up to the cap with jitter between half and all of the step', () => {
    const low = new Backoff(200, 5000, () => 0);
    const high = new Backoff(200, 5000, () => 1);
    expect([1, 2, 3, 4, 5, 6, 7].map(() => low.next())).to.deep.equal([100, 200, 400, 800, 1600, 2500, 2500]);
    expect([1, 2, 3, 4, 5, 6].map(() => high.next())).to.deep.equal([200, 400, 800, 1600, 3200, 5000]);
    high.reset();
    expect(high.next()).to.equal(200);
  });

  it('writes pino-shaped JSON lines and honours the level', () => {
    const lines: string[] = [];
    const log = createClientLogger('acquire', 'warn', (l) => lines.push(l));
    log.info({ a: 1 }, 'hidden');
    log.warn({ holder: 'ns/p' }, 'shown');
    expect(lines).to.have.length(1);
    expect(lines[0]!.endsWith('\n')).to.equal(true);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(line)).to.deep.equal(['level', 'time', 'component', 'holder', 'msg']);
    expect(line).to.include({ level: 'warn', component: 'acquire', holder: 'ns/p', msg: 'shown' });
  });
});
