// --release-on-ready on the real server process, against the fake API: a lease ends the moment its
// holder pod is Ready, deleted or failed; watches that drop or expire recover; an unreachable API
// changes nothing but the early release (leases run to their duration). The pods' probes here are exec
// probes, which the server cannot run itself: the kubelet's Ready decides (own probing: holder-probe.test.ts).
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { fakeApiPerTest } from '../support/fake-api-suite.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { appPod, EXEC_READINESS, pod, readyStatus } from '../support/kube-pods.js';
import { startReleasingServer, type ServerProc } from '../support/processes.js';

const DIST = fileURLToPath(new URL('../../dist/server/pods/watcher.js', import.meta.url));
const NODE = 'node-1';
const NS = 'team';

interface Released {
  holder: string;
  reason: string;
  at: number;
}

/** Every `lease released` log line, with when this test saw it. */
function releases(s: ServerProc) {
  const seen: Released[] = [];
  const onData = () => {
    for (const line of s.logs()) {
      if (line.msg !== 'lease released') continue;
      const holder = String(line.holder);
      const reason = String(line.reason);
      if (!seen.some((r) => r.holder === holder && r.reason === reason)) {
        seen.push({ holder, reason, at: Date.now() });
      }
    }
  };
  s.child.stdout!.on('data', onData);
  return {
    async next(holder: string, reason: string, timeoutMs = 10_000): Promise<Released> {
      await s.waitForLog(
        (l) => l.msg === 'lease released' && l.holder === holder && l.reason === reason,
        timeoutMs,
      );
      onData();
      return seen.find((r) => r.holder === holder && r.reason === reason) as Released;
    },
  };
}

async function acquire(s: ServerProc, holder: string, duration = 60): Promise<number> {
  const res = await fetch(`${s.url}/v1/leases?holder=${holder}&duration=${duration}&wait=0`, {
    method: 'POST',
  });
  await res.arrayBuffer();
  return res.status;
}

describe('release on Ready (real server, fake API)', function () {
  this.timeout(30_000);
  let api: FakeKubeApi;
  let kubeconfig: string;

  fakeApiPerTest(DIST, (fake, path) => {
    api = fake;
    kubeconfig = path;
    for (const name of ['app-0', 'app-1', 'app-2'])
      api.create('pods', appPod(NS, name, NODE, [EXEC_READINESS]));
    // A pod without any probe: nothing says when its start-up ends.
    api.create('pods', pod(NS, 'no-probe', NODE));
    // A pod on another node with a holder-like name: never watched.
    api.create('pods', appPod(NS, 'elsewhere', 'node-2', [EXEC_READINESS]));
  });

  async function server(extra: string[] = []): Promise<ServerProc> {
    return startReleasingServer(api, kubeconfig, NODE, extra);
  }

  it('releases the lease within a second of the pod turning Ready, and the next waiter gets the slot', async () => {
    const s = await server();
    const r = releases(s);
    expect(await acquire(s, `${NS}/app-0`)).to.equal(200);
    expect(await acquire(s, `${NS}/app-1`)).to.equal(423);
    const patchedAt = Date.now();
    api.patch('pods', NS, 'app-0', readyStatus());
    const released = await r.next(`${NS}/app-0`, 'ready');
    const latency = released.at - patchedAt;
    console.log(`      release latency (status PATCH on the fake → lease released): ${latency} ms`);
    expect(latency).to.be.below(1000);
    expect(await acquire(s, `${NS}/app-1`)).to.equal(200);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).to.match(/startup_lock_lease_releases_total\{reason="ready"\} 1/);
  });

  it('keeps the lease of a pod without a startup or readiness probe for its duration, Ready or not', async () => {
    const s = await server(['--locks', '2']);
    const r = releases(s);
    expect(await acquire(s, `${NS}/no-probe`, 2)).to.equal(200);
    expect(await acquire(s, `${NS}/app-0`)).to.equal(200);
    const noted = s.waitForLog(
      (l) => l.holder === `${NS}/no-probe` && /has no startup or readiness probe/.test(String(l.msg)),
    );
    api.patch('pods', NS, 'no-probe', readyStatus());
    // app-0's Ready comes after no-probe's in the watch: once it has released, no-probe's was seen.
    api.patch('pods', NS, 'app-0', readyStatus());
    await r.next(`${NS}/app-0`, 'ready');
    await noted;
    const released = await r.next(`${NS}/no-probe`, 'expired', 5000);
    expect(released.reason).to.equal('expired');
  });

  it('releases at grant time when the pod is already Ready', async () => {
    api.patch('pods', NS, 'app-0', readyStatus());
    const s = await server();
    const r = releases(s);
    expect(await acquire(s, `${NS}/app-0`)).to.equal(200);
    await r.next(`${NS}/app-0`, 'ready');
  });

  it('releases the lease when the pod is deleted', async () => {
    const s = await server();
    const r = releases(s);
    expect(await acquire(s, `${NS}/app-0`)).to.equal(200);
    api.delete('pods', NS, 'app-0');
    await r.next(`${NS}/app-0`, 'pod_gone');
  });

  it('releases the lease when the pod fails', async () => {
    const s = await server();
    const r = releases(s);
    expect(await acquire(s, `${NS}/app-0`)).to.equal(200);
    api.patch('pods', NS, 'app-0', { status: { phase: 'Failed' } });
    await r.next(`${NS}/app-0`, 'pod_gone');
  });

  it('keeps the lease while the pod runs but is not Ready yet, and ignores pods of other nodes', async () => {
    const s = await server(['--locks', '3']);
    const r = releases(s);
    expect(await acquire(s, `${NS}/app-0`)).to.equal(200);
    expect(await acquire(s, `${NS}/elsewhere`)).to.equal(200);
    expect(await acquire(s, `${NS}/app-2`)).to.equal(200);
    api.patch('pods', NS, 'app-0', readyStatus(false));
    api.patch('pods', NS, 'elsewhere', readyStatus());
    // The watch delivers in order: once app-2's Ready has released it, the two changes before were seen.
    api.patch('pods', NS, 'app-2', readyStatus());
    await r.next(`${NS}/app-2`, 'ready');
    const status = (await (await fetch(`${s.url}/v1/status`)).json()) as { holders: { holder: string }[] };
    expect(status.holders.map((h) => h.holder)).to.deep.equal([`${NS}/app-0`, `${NS}/elsewhere`]);
    api.patch('pods', NS, 'app-0', readyStatus(true));
    await r.next(`${NS}/app-0`, 'ready');
  });

  for (const abrupt of [false, true]) {
    it(`recovers from a watch that ${abrupt ? 'breaks (connection reset)' : 'ends'}: a later Ready still releases`, async () => {
      const s = await server();
      const r = releases(s);
      expect(await acquire(s, `${NS}/app-0`)).to.equal(200);
      expect(api.dropWatches({ abrupt, resource: 'pods' })).to.equal(1);
      await api.waitForWatches('pods');
      api.patch('pods', NS, 'app-0', readyStatus());
      await r.next(`${NS}/app-0`, 'ready');
    });
  }

  it('relists after 410 Gone and catches a Ready it missed while disconnected', async () => {
    const s = await server();
    const r = releases(s);
    expect(await acquire(s, `${NS}/app-0`)).to.equal(200);
    const listsBefore = api.requests.filter((q) => q.verb === 'list' && q.resource === 'pods').length;
    // While no watch is open: the pod turns Ready and the history that recorded it is compacted away.
    api.dropWatches({ resource: 'pods' });
    api.patch('pods', NS, 'app-0', readyStatus());
    api.compactHistory();
    await r.next(`${NS}/app-0`, 'ready');
    const lists = api.requests.filter((q) => q.verb === 'list' && q.resource === 'pods').length;
    expect(lists).to.be.greaterThan(listsBefore);
  });

  it('survives the API going away: leases expire on their duration, and release resumes when it is back', async () => {
    const s = await server();
    const r = releases(s);
    expect(await acquire(s, `${NS}/app-0`, 1)).to.equal(200);
    await api.goUnreachable();
    await r.next(`${NS}/app-0`, 'expired');
    await s.waitForLog((l) => l.level === 'warn' && /release-on-ready: cannot follow/.test(String(l.msg)));
    expect((await fetch(`${s.url}/healthz`)).status).to.equal(200);
    expect(await acquire(s, `${NS}/app-1`)).to.equal(200);
    await api.goReachable();
    await s.waitForLog((l) => /following the pods on this node again/.test(String(l.msg)), 15_000);
    api.patch('pods', NS, 'app-1', readyStatus());
    await r.next(`${NS}/app-1`, 'ready');
    const warnings = s.logs().filter((l) => /release-on-ready: cannot follow/.test(String(l.msg)));
    expect(warnings, 'one warning per outage, not one per retry').to.have.length(1);
    expect(s.child.exitCode).to.equal(null);
  });

  it('drops a queued holder whose pod is deleted', async () => {
    const s = await server();
    expect(await acquire(s, `${NS}/app-0`)).to.equal(200);
    expect(await acquire(s, `${NS}/app-1`)).to.equal(423);
    const left = s.waitForLog((l) => l.msg === 'holder left the queue' && l.holder === `${NS}/app-1`);
    api.delete('pods', NS, 'app-1');
    expect((await left).why).to.equal('pod_gone');
  });

  it('refuses --release-on-ready without a node name (exit 2)', async () => {
    const { startProcess } = await import('../support/processes.js');
    const p = startProcess(['server', '--release-on-ready', '--kubeconfig', kubeconfig], { NODE_NAME: '' });
    const { code } = await p.exited;
    expect(code).to.equal(2);
    expect(p.output()).to.match(/--release-on-ready: needs --node-name/);
  });
});
