// Which pods on the node count as start-ups without a lease (pure), and what the counter tells the engine
// as a pod's start-up begins, ends, restarts after a lease, or goes out of sight.
import { expect } from 'chai';
import { pino } from 'pino';
import type { V1Pod } from '@kubernetes/client-node';
import { LockEngine } from '../../src/lock/engine.js';
import type { UnleasedEnd } from '../../src/lock/types.js';
import {
  leftOut,
  startingSince,
  UnleasedCounter,
  type UnleasedRules,
} from '../../src/server/pods/unleased.js';
import { FakeClock } from '../support/fake-clock.js';

const RULES: UnleasedRules = {
  maxMs: 120_000,
  excludeNamespaces: ['kube-system'],
  excludeLabels: ['tier:batch'],
  daemonSets: true,
  self: 'startup-lock/server-x',
};

function podOf(
  ns: string,
  name: string,
  c: { ready?: boolean; started?: boolean; startedAt?: number | null; startupProbe?: boolean } = {},
  meta: Partial<NonNullable<V1Pod['metadata']>> = {},
): V1Pod {
  const startedAt = c.startedAt === undefined ? 1_000_000 : c.startedAt;
  return {
    metadata: { namespace: ns, name, uid: `${name}-uid`, ...meta },
    spec: {
      containers: [
        {
          name: 'app',
          readinessProbe: { exec: { command: ['true'] } },
          ...(c.startupProbe ? { startupProbe: { exec: { command: ['true'] } } } : {}),
        },
      ],
    },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'app',
          image: 'app',
          imageID: '',
          restartCount: 0,
          ready: c.ready ?? false,
          started: c.started ?? false,
          state:
            startedAt === null
              ? { waiting: { reason: 'ContainerCreating' } }
              : { running: { startedAt: new Date(startedAt) } },
        },
      ],
    },
  };
}

describe('unleased start-ups: which pods count', () => {
  it('counts a running app container not yet past its probe, from its start, until maxMs after it', () => {
    expect(startingSince(podOf('a', 'p'), RULES, 1_000_500)).to.equal(1_000_000);
    expect(startingSince(podOf('a', 'p'), RULES, 1_119_999)).to.equal(1_000_000);
    expect(startingSince(podOf('a', 'p'), RULES, 1_120_000)).to.equal(null);
  });

  it('does not count a ready container, one past its startup probe, one not running yet, or a finished pod', () => {
    expect(startingSince(podOf('a', 'p', { ready: true }), RULES, 1_000_500)).to.equal(null);
    expect(startingSince(podOf('a', 'p', { started: true, startupProbe: true }), RULES, 1_000_500)).to.equal(
      null,
    );
    // Without a startup probe, `started` says nothing about the readiness probe.
    expect(startingSince(podOf('a', 'p', { started: true }), RULES, 1_000_500)).to.equal(1_000_000);
    expect(startingSince(podOf('a', 'p', { startedAt: null }), RULES, 1_000_500)).to.equal(null);
    const done = podOf('a', 'p');
    done.status!.phase = 'Succeeded';
    expect(startingSince(done, RULES, 1_000_500)).to.equal(null);
  });

  it("leaves out the server's own pod, excluded namespaces and labels, and DaemonSet pods when asked", () => {
    expect(leftOut(podOf('startup-lock', 'server-x'), RULES)).to.equal('the server itself');
    expect(leftOut(podOf('kube-system', 'proxy'), RULES)).to.equal('namespace kube-system');
    expect(leftOut(podOf('a', 'job', {}, { labels: { tier: 'batch' } }), RULES)).to.equal('label tier:batch');
    expect(leftOut(podOf('a', 'web', {}, { labels: { tier: 'web' } }), RULES)).to.equal(null);
    const ds = podOf(
      'a',
      'agent',
      {},
      {
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'u' }],
      },
    );
    expect(leftOut(ds, RULES)).to.equal(null);
    expect(leftOut(ds, { ...RULES, daemonSets: false })).to.equal('a DaemonSet pod');
  });
});

describe('unleased start-ups: the counter', () => {
  function setup() {
    const clock = new FakeClock();
    const engine = new LockEngine({ slots: 1, maxQueue: 10, queueGraceMs: 1000, clock, newId: () => 'l1' });
    const ended: [string, UnleasedEnd][] = [];
    engine.listen({ unleasedEnded: (s, why) => ended.push([s.pod, why]) });
    const counter = new UnleasedCounter({
      rules: RULES,
      engine,
      clock,
      log: pino({ level: 'silent' }),
      probeIntervalMs: 0,
    });
    return { clock, engine, counter, ended };
  }

  it('counts a pod without the client as unmanaged until it is ready, and again when it restarts', () => {
    const { clock, engine, counter, ended } = setup();
    const t = clock.now();
    counter.judge('ADDED', podOf('a', 'web', { startedAt: t }));
    expect(engine.unleasedStarts()).to.deep.equal([
      { pod: 'a/web', kind: 'unmanaged', since: t, bound: t + 120_000 },
    ]);
    counter.judge('MODIFIED', podOf('a', 'web', { startedAt: t, ready: true }));
    expect(ended).to.deep.equal([['a/web', 'started']]);
    clock.advance(5000);
    counter.judge('MODIFIED', podOf('a', 'web', { startedAt: t + 5000 }));
    expect(engine.unleasedStarts().map((u) => u.since)).to.deep.equal([t + 5000]);
    counter.judge('DELETED', podOf('a', 'web', { startedAt: t + 5000 }));
    expect(ended.at(-1)).to.deep.equal(['a/web', 'gone']);
  });

  it('does not count the start-up a lease covered, but counts a restart after it ended, as restart', () => {
    const { clock, engine, counter } = setup();
    const t = clock.now();
    const r = engine.acquire('a/app', 'app-uid', 60_000, null);
    counter.judge('MODIFIED', podOf('a', 'app', { startedAt: t + 100 }));
    expect(engine.unleasedCount).to.equal(0);
    clock.advance(2000);
    if (r.kind === 'granted') engine.release(r.lease.id, 'ready');
    counter.judge('MODIFIED', podOf('a', 'app', { startedAt: t + 100 }));
    expect(engine.unleasedCount).to.equal(0);
    clock.advance(1000);
    counter.judge('MODIFIED', podOf('a', 'app', { startedAt: clock.now() }));
    expect(engine.unleasedStarts().map((u) => u.kind)).to.deep.equal(['restart']);
  });

  it('does not count the start-up of a lease restored from the state file once it is released', () => {
    const { clock, engine, counter } = setup();
    const t = clock.now();
    engine.restore({
      version: 1,
      savedAt: t,
      leases: [
        {
          id: 'l0' as never,
          holder: 'a/app',
          uid: 'app-uid',
          client: null,
          slot: 0,
          api: 'v1',
          grantedAt: t,
          expiresAt: t + 60_000,
        },
      ],
      queue: [],
    });
    clock.advance(2000);
    engine.release(engine.leaseOf('a/app')!.id, 'probe');
    counter.judge('MODIFIED', podOf('a', 'app', { startedAt: t + 100 }));
    expect(engine.unleasedCount).to.equal(0);
  });

  it('drops what it counted while the watch is broken and counts the fresh list once back', () => {
    const { clock, engine, counter, ended } = setup();
    const pod = podOf('a', 'web', { startedAt: clock.now() });
    counter.judge('ADDED', pod);
    counter.unseen();
    expect(ended).to.deep.equal([['a/web', 'unseen']]);
    counter.judge('MODIFIED', pod);
    expect(engine.unleasedCount).to.equal(0);
    counter.resume([pod]);
    expect(engine.unleasedCount).to.equal(1);
  });
});
