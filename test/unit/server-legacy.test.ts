// The legacy path (GET /) without a process: a real engine on a fake clock, fake req/res.
import { expect } from 'chai';
import type { DenialReason } from '../../src/lock/types.js';
import { isLegacyRequest, legacyHandler } from '../../src/server/legacy.js';
import { asRequest, FakeResponse, fakeRequest } from '../support/fake-http.js';
import { lockEdge } from '../support/lock-edge.js';

function setup(gate: DenialReason | null = null) {
  const { engine, outcomes, denied } = lockEdge({ gate });
  const handle = legacyHandler({
    engine,
    outcomes,
    defaultDurationMs: 10_000,
    maxDurationMs: 600_000,
    bootId: 'b00t',
  });
  const get = (url: string) => {
    const res = new FakeResponse();
    handle(asRequest(fakeRequest(url)), res.res);
    return res;
  };
  return { engine, denied, get };
}

describe('legacy path (GET /)', () => {
  it('answers 200 "Lock acquired" in plain text while a slot is free, then 423 "Locked"', () => {
    const { get, denied } = setup();
    const first = get('/');
    expect([first.statusCode, first.body]).to.deep.equal([200, 'Lock acquired']);
    expect(first.headers).to.deep.equal({
      'content-type': 'text/plain; charset=utf-8',
      'content-length': '13',
    });
    const second = get('/');
    expect([second.statusCode, second.body]).to.deep.equal([423, 'Locked']);
    expect(denied).to.deep.equal(['locked']);
  });

  it('holds the slot for ?duration= seconds, --timeout without it', () => {
    const { get, engine } = setup();
    get('/?duration=42');
    const [lease] = engine.leases();
    expect(lease!.expiresAt - lease!.grantedAt).to.equal(42_000);
  });

  it('names each holder legacy:IP#bootId.n, never twice in one process', () => {
    const { get, engine } = setup();
    get('/');
    engine.releaseAll('released');
    get('/');
    const [lease] = engine.leases();
    expect(lease!.holder).to.equal('legacy:10.0.0.7#b00t.2');
  });

  it('answers 400 with a one-line reason for a duration out of range, and takes no slot', () => {
    const { get, engine } = setup();
    const res = get('/?duration=601');
    expect(res.statusCode).to.equal(400);
    expect(res.body).to.equal(
      'duration must be a whole number of seconds from 1 to 600 (30, 30s, 2m), got "601"\n',
    );
    expect(engine.activeCount).to.equal(0);
  });

  it('answers 423 and counts the gate reason while grants are held back', () => {
    const { get, denied } = setup('checks_failing');
    expect(get('/').statusCode).to.equal(423);
    expect(denied).to.deep.equal(['checks_failing']);
  });

  it('is taken only by GET / and GET /?…', () => {
    const is = (method: string, url: string) => isLegacyRequest(asRequest(fakeRequest(url, method)));
    expect([
      is('GET', '/'),
      is('GET', '/?duration=5'),
      is('HEAD', '/'),
      is('GET', '/v1/status'),
      is('GET', '/x?'),
    ]).to.deep.equal([true, true, false, false, false]);
  });
});
