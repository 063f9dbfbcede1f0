// LeaseLock on the real client against the fake API, with time driven by hand: expiry, take-over,
// races decided by resourceVersion, renew/release/--once markers, N holders, typed errors.
import { CoordinationV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';
import { AccessDeniedError, ApiCallError } from '../../src/kube/api-error.js';
import {
  COMPLETED_ANNOTATION,
  COMPLETED_BY_ANNOTATION,
  LeaseLock,
  LeaseLostError,
  leaseNames,
  LOCK_LABEL,
} from '../../src/run/lease-lock.js';
import { FakeKubeApi, type JsonObject } from '../support/fake-kube-api.js';
import { kubeConfigFor } from '../support/kube-client.js';
import { ManualClock } from '../support/fake-clock.js';

const NS = 'locks';

describe('LeaseLock', () => {
  let api: FakeKubeApi;
  let clock: ManualClock;
  let leases: CoordinationV1Api;

  beforeEach(async () => {
    api = await FakeKubeApi.start();
    clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    leases = kubeConfigFor(api).makeApiClient(CoordinationV1Api);
  });

  afterEach(() => api.close());

  const lock = (identity: string, name = 'db', holders = 1) =>
    new LeaseLock({ api: leases, namespace: NS, name, holders, identity, leaseDurationMs: 15_000, clock });
  const spec = (name: string) => (api.get('leases', NS, name)?.spec ?? {}) as JsonObject;
  const meta = (name: string) => (api.get('leases', NS, name)?.metadata ?? {}) as JsonObject;

  async function expectRejected<T extends Error>(promise: Promise<unknown>, type: new (...a: never[]) => T) {
    try {
      await promise;
    } catch (err) {
      expect(err).to.be.instanceOf(type);
      return err as T;
    }
    throw new Error(`expected a ${type.name}`);
  }

  it('names one Lease NAME, and N Leases NAME-0 … NAME-(N-1)', () => {
    expect(leaseNames('db', 1)).to.deep.equal(['db']);
    expect(leaseNames('db', 3)).to.deep.equal(['db-0', 'db-1', 'db-2']);
  });

  it('creates the Lease it takes, with holder, duration, times and the lock label', async () => {
    expect(await lock('a').tryAcquire()).to.deep.equal({ kind: 'acquired', name: 'db' });
    expect(spec('db')).to.include({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
    expect(Date.parse(String(spec('db').renewTime))).to.equal(clock.now());
    expect(String(spec('db').renewTime)).to.match(/\.\d{6}Z$/); // MicroTime, as the API expects
    expect(meta('db').labels).to.deep.equal({ [LOCK_LABEL]: 'db' });
  });

  it('reports a live holder as busy until renewTime + leaseDurationSeconds, then takes it over', async () => {
    const a = lock('a');
    await a.tryAcquire();
    const b = lock('b');
    expect(await b.tryAcquire()).to.deep.equal({
      kind: 'busy',
      leases: [{ name: 'db', holder: 'a', expiresAt: clock.now() + 15_000 }],
    });
    await clock.advance(14_999);
    expect((await b.tryAcquire()).kind, 'not before it has passed').to.equal('busy');
    await clock.advance(1);
    expect(await b.tryAcquire()).to.deep.equal({ kind: 'acquired', name: 'db' });
    expect(spec('db')).to.include({ holderIdentity: 'b', leaseTransitions: 1 });
    const lost = await expectRejected(a.renew(), LeaseLostError);
    expect(lost.message).to.contain('now held by "b"');
    expect(a.heldLease).to.equal(undefined);
  });

  it('lets exactly one of several contenders win a free Lease', async () => {
    for (let round = 0; round < 5; round++) {
      const name = `race-${round}`;
      const results = await Promise.all(['a', 'b', 'c', 'd'].map((id) => lock(id, name).tryAcquire()));
      expect(results.filter((r) => r.kind === 'acquired')).to.have.length(1);
    }
    // The same once the Lease exists and is free: every write carries the resourceVersion it read.
    await clock.advance(60_000);
    const results = await Promise.all(['e', 'f', 'g'].map((id) => lock(id, 'race-0').tryAcquire()));
    expect(results.filter((r) => r.kind === 'acquired')).to.have.length(1);
  });

  it('treats a Lease deleted between its read and its write as a lost race, not an error', async () => {
    await lock('a').tryAcquire();
    await clock.advance(60_000);
    // Delete the Lease right after b has read it.
    const racing = {
      readNamespacedLease: async (p: { name: string; namespace: string }) => {
        const read = await leases.readNamespacedLease(p);
        api.delete('leases', NS, p.name);
        return read;
      },
      createNamespacedLease: leases.createNamespacedLease.bind(leases),
      replaceNamespacedLease: leases.replaceNamespacedLease.bind(leases),
    };
    const b = new LeaseLock({
      api: racing,
      namespace: NS,
      name: 'db',
      holders: 1,
      identity: 'b',
      leaseDurationMs: 15_000,
      clock,
    });
    expect(await b.tryAcquire()).to.deep.equal({ kind: 'busy', leases: [] });
  });

  it('renews, surviving a write by someone else that leaves it the holder', async () => {
    const a = lock('a');
    await a.tryAcquire();
    await clock.advance(2000);
    await a.renew();
    expect(Date.parse(String(spec('db').renewTime))).to.equal(clock.now());
    api.patch('leases', NS, 'db', { metadata: { annotations: { note: 'kubectl was here' } } });
    await clock.advance(2000);
    await a.renew();
    expect(Date.parse(String(spec('db').renewTime))).to.equal(clock.now());
    expect((meta('db').annotations as JsonObject).note).to.equal('kubectl was here');
  });

  it('loses the Lease when it is deleted under it', async () => {
    const a = lock('a');
    await a.tryAcquire();
    api.delete('leases', NS, 'db');
    await expectRejected(a.renew(), LeaseLostError);
  });

  it('releases by clearing the holder, so the next contender takes it at once', async () => {
    const a = lock('a');
    await a.tryAcquire();
    await a.release();
    expect(spec('db').holderIdentity).to.equal(undefined);
    expect(a.heldLease).to.equal(undefined);
    expect((await lock('b').tryAcquire()).kind).to.equal('acquired');
    await a.release(); // nothing held: no-op
    expect(spec('db').holderIdentity).to.equal('b');
  });

  it('takes its own Lease back after a restart with the same identity', async () => {
    await lock('pod-1_uid').tryAcquire();
    expect(await lock('pod-1_uid').tryAcquire()).to.deep.equal({ kind: 'acquired', name: 'db' });
    expect(spec('db').leaseTransitions).to.equal(0);
  });

  it('records --once completion while holding, and reports it to later contenders', async () => {
    const a = lock('a');
    await a.tryAcquire(true);
    await a.markCompleted();
    expect(spec('db').holderIdentity, 'still held while the marker is written').to.equal('a');
    expect(meta('db').annotations).to.deep.equal({
      [COMPLETED_ANNOTATION]: '2030-01-01T00:00:00Z',
      [COMPLETED_BY_ANNOTATION]: 'a',
    });
    await a.release();
    expect(await lock('b').tryAcquire(true)).to.deep.equal({
      kind: 'completed',
      completion: { at: '2030-01-01T00:00:00Z', by: 'a' },
    });
    expect((await lock('c').tryAcquire(false)).kind, 'the marker only matters with --once').to.equal(
      'acquired',
    );
  });

  it('hands out N Leases to N holders, and reports every holder to the next', async () => {
    expect(await lock('a', 'warm', 2).tryAcquire()).to.deep.equal({ kind: 'acquired', name: 'warm-0' });
    expect(await lock('b', 'warm', 2).tryAcquire()).to.deep.equal({ kind: 'acquired', name: 'warm-1' });
    const third = await lock('c', 'warm', 2).tryAcquire();
    expect(third.kind === 'busy' && third.leases.map((l) => `${l.name}=${l.holder}`)).to.deep.equal([
      'warm-0=a',
      'warm-1=b',
    ]);
  });

  it('throws AccessDeniedError on 403 and ApiCallError on 500', async () => {
    api.fail({ status: 403, verb: 'get', resource: 'leases', times: 1 });
    const denied = await expectRejected(lock('a').tryAcquire(), AccessDeniedError);
    expect(denied.message).to.match(
      /^cannot get leases\.coordination\.k8s\.io in namespace locks: forbidden — /,
    );
    api.fail({ status: 500, verb: 'create', resource: 'leases', times: 1 });
    const failed = await expectRejected(lock('a').tryAcquire(), ApiCallError);
    expect(failed.status).to.equal(500);
  });
});
