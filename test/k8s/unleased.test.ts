// Every start-up on the node counts (--count-unleased, on with --release-on-ready): the real server, the
// fake API and real `acquire` processes. A pod without the client that is starting, or a holder's app
// container restarting after its lease ended, takes a slot until it is ready, gone or --unleased-max
// old; a waiting acquire stays queued meanwhile. Excluded pods and the server's own never count; with
// the API unreachable, nothing that cannot be seen is counted.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { fakeApiPerTest } from '../support/fake-api-suite.js';
import type { FakeKubeApi, JsonObject } from '../support/fake-kube-api.js';
import { appPod, containersStatus, EXEC_READINESS } from '../support/kube-pods.js';
import { startProcess, startServer, type Proc, type ServerProc } from '../support/processes.js';

const DIST = fileURLToPath(new URL('../../dist/server/pods/unleased.js', import.meta.url));
const NODE = 'node-1';
const NS = 'team';

interface Status {
  queue: { holder: string }[];
  holders: { holder: string }[];
  unleased: { pod: string; kind: string; since: string; bound: string }[];
}

async function status(s: ServerProc): Promise<Status> {
  return (await (await fetch(`${s.url}/v1/status`)).json()) as Status;
}

/** The kubelet's status of a pod whose app container runs and has not passed its probe yet (or has). */
function starting(ready = false, startedAt = new Date().toISOString()): JsonObject {
  return containersStatus([{ name: 'app', ready }], { ready, startedAt });
}

/** A real `startup-lock acquire` process queuing on the server as `holder`. */
function acquire(s: ServerProc, holder: string): Proc {
  return startProcess(
    ['acquire', '--host', '127.0.0.1', '--port', String(s.port), '--holder', holder, '--duration', '60'],
    { HOST_IP: '', POD_NAME: '', POD_NAMESPACE: '', POD_UID: '' },
  );
}

/** Lease the slot over HTTP (no wait), as a client would. */
async function lease(s: ServerProc, holder: string): Promise<number> {
  const res = await fetch(`${s.url}/v1/leases?holder=${holder}&duration=60&wait=0`, { method: 'POST' });
  await res.arrayBuffer();
  return res.status;
}

const counted = (pod: string) => (l: Record<string, unknown>) =>
  l.msg === 'start-up without a lease takes a slot' && l.pod === pod;
const uncounted = (pod: string, why: string) => (l: Record<string, unknown>) =>
  l.msg === 'start-up without a lease no longer takes a slot' && l.pod === pod && l.why === why;
const granted = (holder: string) => (l: Record<string, unknown>) =>
  l.msg === 'lease granted' && l.holder === holder;

/** The acquire is in the queue, and still there (not exited) a second later. */
async function staysQueued(s: ServerProc, p: Proc, holder: string): Promise<void> {
  await p.waitForLog((l) => l.msg === 'waiting for the startup lock');
  for (let i = 0; i < 100 && !(await status(s)).queue.some((q) => q.holder === holder); i++)
    await new Promise((r) => setTimeout(r, 50));
  // Absence of a grant can only be shown by waiting: a second is ten probe intervals of the server.
  await new Promise((r) => setTimeout(r, 1000));
  expect((await status(s)).queue.map((q) => q.holder)).to.deep.equal([holder]);
  expect(p.child.exitCode, 'acquire exited while the slot was taken').to.equal(null);
}

describe('every start-up on the node counts (real server, fake API, real acquire)', function () {
  this.timeout(40_000);
  let api: FakeKubeApi;
  let kubeconfig: string;

  fakeApiPerTest(DIST, (fake, path) => {
    api = fake;
    kubeconfig = path;
    // A pod without the client (exec probe: the kubelet's word decides), and two holders.
    api.create('pods', appPod('other', 'web', NODE, [EXEC_READINESS]));
    for (const name of ['app-0', 'app-1']) api.create('pods', appPod(NS, name, NODE, [EXEC_READINESS]));
  });

  async function server(extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerProc> {
    const s = await startServer(
      ['--release-on-ready', '--node-name', NODE, '--kubeconfig', kubeconfig, '--locks', '1', ...extra],
      { POD_NAME: '', POD_NAMESPACE: '', ...env },
    );
    await api.waitForWatches('pods');
    return s;
  }

  it('holds a waiting acquire back while a pod without the client starts, and grants it within a second of Ready', async () => {
    const s = await server(['--events']);
    api.patch('pods', 'other', 'web', starting());
    await s.waitForLog(counted('other/web'));
    const waiting = acquire(s, `${NS}/app-0`);
    await staysQueued(s, waiting, `${NS}/app-0`);
    const st = await status(s);
    expect(st.unleased.map((u) => [u.pod, u.kind])).to.deep.equal([['other/web', 'unmanaged']]);
    expect(Date.parse(st.unleased[0]!.bound) - Date.parse(st.unleased[0]!.since)).to.equal(120_000);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).to.match(/startup_lock_unleased_starts\{kind="unmanaged"\} 1/);
    expect(metrics).to.match(/startup_lock_unleased_starts\{kind="restart"\} 0/);
    expect(metrics).to.match(/startup_lock_unleased_starts_total\{kind="unmanaged"\} 1/);

    const readyAt = Date.now();
    api.patch('pods', 'other', 'web', starting(true));
    await s.waitForLog(granted(`${NS}/app-0`));
    const latency = Date.now() - readyAt;
    console.log(`      Ready of the unleased pod → grant to the waiting acquire: ${latency} ms`);
    expect(latency).to.be.below(1000);
    expect((await waiting.exited).code).to.equal(0);
    expect(s.logs().find(uncounted('other/web', 'started'))).to.not.equal(undefined);
    // kubectl describe pod says why it waited.
    const event = await api.waitFor('events', (e) => e.reason === 'StartupLockGranted');
    expect(String(event.message)).to.match(/the node was busy with 1 start-up without a lease/);
  });

  it("counts a holder's app container that restarts after its release, as kind restart", async () => {
    const s = await server();
    expect(await lease(s, `${NS}/app-0`)).to.equal(200);
    // Its start-up, covered by its lease: not counted again.
    api.patch('pods', NS, 'app-0', starting());
    api.patch('pods', NS, 'app-0', starting(true));
    await s.waitForLog((l) => l.msg === 'lease released' && l.holder === `${NS}/app-0`);
    // A failed liveness probe: the kubelet restarts the container; init containers do not run again.
    api.patch('pods', NS, 'app-0', starting(false, new Date(Date.now() + 10).toISOString()));
    await s.waitForLog(counted(`${NS}/app-0`));
    expect((await status(s)).unleased.map((u) => [u.pod, u.kind])).to.deep.equal([
      [`${NS}/app-0`, 'restart'],
    ]);
    const waiting = acquire(s, `${NS}/app-1`);
    await staysQueued(s, waiting, `${NS}/app-1`);
    api.patch('pods', NS, 'app-0', starting(true, new Date(Date.now() + 10).toISOString()));
    expect((await waiting.exited).code).to.equal(0);
    expect(s.logs().some(granted(`${NS}/app-1`))).to.equal(true);
    expect(
      s.logs().filter(counted(`${NS}/app-0`)),
      'the start-up its lease covered counted too',
    ).to.have.length(1);
  });

  it("frees the slot as soon as the server's own probe of the unleased pod passes, before the kubelet's Ready", async () => {
    let healthy = false;
    const app = createServer((_req, res) => res.writeHead(healthy ? 200 : 503).end());
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    try {
      const port = (app.address() as AddressInfo).port;
      api.create(
        'pods',
        appPod('other', 'http', NODE, [
          {
            name: 'app',
            image: 'app:1',
            readinessProbe: { httpGet: { path: '/ready', port }, periodSeconds: 10 },
          },
        ]),
      );
      const s = await server(['--ready-probe-interval', '100ms']);
      api.patch('pods', 'other', 'http', starting());
      await s.waitForLog(counted('other/http'));
      const waiting = acquire(s, `${NS}/app-0`);
      await staysQueued(s, waiting, `${NS}/app-0`);
      healthy = true;
      // The kubelet still reports the container not ready: only the server's own probe can end it.
      expect((await waiting.exited).code).to.equal(0);
      expect(s.logs().find(uncounted('other/http', 'started'))).to.not.equal(undefined);
    } finally {
      app.closeAllConnections();
      await new Promise<void>((resolve) => app.close(() => resolve()));
    }
  });

  it('frees the slot of a start-up that never gets ready after --unleased-max', async () => {
    const s = await server(['--unleased-max', '3s']);
    api.patch('pods', 'other', 'web', starting());
    const began = await s.waitForLog(counted('other/web'));
    const waiting = acquire(s, `${NS}/app-0`);
    await waiting.waitForLog((l) => l.msg === 'waiting for the startup lock');
    expect((await waiting.exited).code).to.equal(0);
    const ended = s.logs().find(uncounted('other/web', 'bound'));
    expect(ended, 'the start-up ended by its bound').to.not.equal(undefined);
    expect(began.boundMs).to.equal(3000);
    expect(Number(ended!.countedMs)).to.be.at.least(3000);
    expect((await status(s)).unleased).to.deep.equal([]);
  });

  it("never counts an excluded namespace, an excluded label, or the server's own pod", async () => {
    api.create('pods', appPod('kube-system', 'proxy', NODE, [EXEC_READINESS]));
    api.create('pods', {
      ...appPod(NS, 'legacy', NODE, [EXEC_READINESS]),
      metadata: { namespace: NS, name: 'legacy', labels: { tier: 'batch' } },
    });
    api.create('pods', appPod('startup-lock', 'startup-lock-x1', NODE, [EXEC_READINESS]));
    const s = await server(
      ['--unleased-exclude-namespace', 'kube-system', '--unleased-exclude-label', 'tier:batch'],
      { POD_NAME: 'startup-lock-x1', POD_NAMESPACE: 'startup-lock' },
    );
    api.patch('pods', 'kube-system', 'proxy', starting());
    api.patch('pods', NS, 'legacy', starting());
    api.patch('pods', 'startup-lock', 'startup-lock-x1', starting());
    // The watch delivers in order: once this one counts, the three before it were judged.
    api.patch('pods', 'other', 'web', starting());
    await s.waitForLog(counted('other/web'));
    expect((await status(s)).unleased.map((u) => u.pod)).to.deep.equal(['other/web']);
    api.patch('pods', 'other', 'web', starting(true));
    await s.waitForLog(uncounted('other/web', 'started'));
    expect(await lease(s, `${NS}/app-0`)).to.equal(200);
  });

  it('counts nothing with --no-count-unleased', async () => {
    const s = await server(['--no-count-unleased']);
    api.patch('pods', 'other', 'web', starting());
    api.patch('pods', NS, 'app-1', starting(true));
    await s.waitForLog((l) => l.msg === 'kubernetes features on');
    // app-1 is Ready: its lease is released by the watch, which has seen web's change before.
    expect(await lease(s, `${NS}/app-1`)).to.equal(200);
    await s.waitForLog((l) => l.msg === 'lease released' && l.holder === `${NS}/app-1`);
    expect(await lease(s, `${NS}/app-0`)).to.equal(200);
    expect((await status(s)).unleased).to.deep.equal([]);
  });

  it('with the API unreachable, stops counting what it cannot see (waiters are granted), and counts again once back', async () => {
    const s = await server();
    api.patch('pods', 'other', 'web', starting());
    await s.waitForLog(counted('other/web'));
    const waiting = acquire(s, `${NS}/app-0`);
    await staysQueued(s, waiting, `${NS}/app-0`);
    await api.goUnreachable();
    await s.waitForLog(uncounted('other/web', 'unseen'), 15_000);
    expect((await waiting.exited).code).to.equal(0);
    expect((await status(s)).unleased).to.deep.equal([]);
    await api.goReachable();
    await s.waitForLog((l) => /following the pods on this node again/.test(String(l.msg)), 15_000);
    // The fresh list shows web still starting: it takes a slot again, until its bound at the latest.
    await s.waitForLog(() => s.logs().filter(counted('other/web')).length === 2, 15_000);
    expect((await status(s)).unleased.map((u) => u.pod)).to.deep.equal(['other/web']);
  });
});
