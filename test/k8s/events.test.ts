// --events on the real server process: grants, releases and expiries become core/v1 Events on the holder
// pod (read back from the fake API); a 403 is logged once and never gets in the way of the lock.
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { fakeApiPerTest } from '../support/fake-api-suite.js';
import { FakeKubeApi, type JsonObject } from '../support/fake-kube-api.js';
import { appPod, containersStatus, EXEC_READINESS, pod } from '../support/kube-pods.js';
import { startServer, type ServerProc } from '../support/processes.js';
import { until } from '../support/until.js';

const DIST = fileURLToPath(new URL('../../dist/server/pods/events.js', import.meta.url));
const NODE = 'node-1';
const NS = 'team';

interface EventObj {
  reason: string;
  message: string;
  type: string;
  involvedObject: { kind: string; namespace: string; name: string; uid?: string; apiVersion: string };
  source: { component: string; host: string };
  reportingComponent: string;
  metadata: { namespace: string };
}

const asEvent = (o: JsonObject) => o as unknown as EventObj;

async function post(s: ServerProc, query: string): Promise<{ status: number; body: { id?: string } }> {
  const res = await fetch(`${s.url}/v1/leases?${query}`, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as { id?: string } };
}

describe('Kubernetes Events on the holder pod (real server, fake API)', function () {
  this.timeout(30_000);
  let api: FakeKubeApi;
  let kubeconfig: string;
  let uid: string;

  fakeApiPerTest(DIST, (fake, path) => {
    api = fake;
    kubeconfig = path;
    uid = String((api.create('pods', pod(NS, 'app-0', NODE)).metadata as JsonObject).uid);
    api.create('pods', pod(NS, 'app-1', NODE));
    // With an exec readiness probe (which the server cannot run) the kubelet's Ready releases app-2.
    api.create('pods', appPod(NS, 'app-2', NODE, [EXEC_READINESS]));
  });

  const server = (extra: string[] = []) =>
    startServer(['--events', '--node-name', NODE, '--kubeconfig', kubeconfig, ...extra]);

  it('records the grant and the release (with reason and time held) on the pod, found by its UID', async () => {
    const s = await server();
    // No uid from the client: the server looks the pod up.
    const { status, body } = await post(s, `holder=${NS}/app-0&duration=60`);
    expect(status).to.equal(200);
    const granted = asEvent(await api.waitFor('events', (e) => e.reason === 'StartupLockGranted'));
    expect(granted.involvedObject).to.deep.include({ kind: 'Pod', namespace: NS, name: 'app-0', uid });
    expect(granted.metadata.namespace).to.equal(NS);
    expect(granted.source).to.deep.equal({ component: 'startup-lock', host: NODE });
    expect(granted.reportingComponent).to.equal('startup-lock.io/server');
    expect(granted.type).to.equal('Normal');
    expect(granted.message).to.match(/granted after waiting \d+\.\ds/);

    expect((await fetch(`${s.url}/v1/leases/${body.id}`, { method: 'DELETE' })).status).to.equal(204);
    const released = asEvent(await api.waitFor('events', (e) => e.reason === 'StartupLockReleased'));
    expect(released.involvedObject).to.deep.include({ name: 'app-0', uid });
    expect(released.message).to.match(/released after \d+\.\ds: the client released it/);
  });

  it('uses the UID the client sent, and records an expiry', async () => {
    const s = await server();
    const given = '0b0e3c38-1a1b-4c1d-9e1f-000000000001';
    expect((await post(s, `holder=${NS}/app-1&duration=1&uid=${given}`)).status).to.equal(200);
    const expired = asEvent(await api.waitFor('events', (e) => e.reason === 'StartupLockExpired'));
    expect(expired.involvedObject).to.deep.include({ name: 'app-1', uid: given });
    expect(expired.message).to.match(/expired after 1\.\ds/);
    expect(api.requests.some((r) => r.verb === 'get' && r.resource === 'pods')).to.equal(false);
  });

  it('records nothing for legacy-API holders', async () => {
    const s = await server();
    expect((await fetch(`${s.url}/?duration=1`)).status).to.equal(200);
    await s.waitForLog((l) => l.msg === 'lease released' && l.reason === 'expired');
    // A v1 grant afterwards: its Event arriving proves the legacy ones would have arrived by now.
    expect((await post(s, `holder=${NS}/app-0&duration=60`)).status).to.equal(200);
    await api.waitFor('events', (e) => e.reason === 'StartupLockGranted');
    const events = api.list('events').map(asEvent);
    expect(events.map((e) => e.involvedObject.name)).to.deep.equal(['app-0']);
  });

  it('logs a 403 once, naming the permission, keeps granting, and stops asking for a while', async () => {
    const forbidden = api.fail({ status: 403, verb: 'create', resource: 'events' });
    const s = await server(['--log-level', 'debug']);
    const cycle = async (name: string) => {
      const { status, body } = await post(s, `holder=${NS}/${name}&duration=60`);
      expect(status).to.equal(200);
      expect((await fetch(`${s.url}/v1/leases/${body.id}`, { method: 'DELETE' })).status).to.equal(204);
    };
    await cycle('app-0');
    const warning = await s.waitForLog((l) => /events: not allowed/.test(String(l.msg)));
    expect(String(warning.err)).to.match(/cannot create events in namespace team: forbidden/);
    await cycle('app-1');
    await cycle('app-0');
    // Six lock events: each was either sent (at most the ones already under way when the first 403
    // came back) or skipped while Events are paused.
    const skipped = () => s.logs().filter((l) => /paused after a 403/.test(String(l.msg))).length;
    const attempts = () => api.requests.filter((r) => r.verb === 'create' && r.resource === 'events').length;
    await until(() => skipped() + attempts() === 6);
    expect(attempts()).to.be.within(1, 2);
    expect(forbidden.hits).to.equal(attempts());
    expect(s.logs().filter((l) => /events: not allowed/.test(String(l.msg)))).to.have.length(1);
    expect(api.list('events')).to.have.length(0);
  });

  it('works alongside --release-on-ready: the release event says the pod is Ready', async () => {
    const s = await server(['--release-on-ready']);
    await api.waitForWatches('pods');
    expect((await post(s, `holder=${NS}/app-2&duration=60`)).status).to.equal(200);
    api.patch('pods', NS, 'app-2', {
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    const released = asEvent(await api.waitFor('events', (e) => e.reason === 'StartupLockReleased'));
    expect(released.message).to.match(/: the pod is Ready$/);
    expect(released.involvedObject.name).to.equal('app-2');
  });

  it('with --release-on-ready the release event names the probe that passed', async () => {
    const s = await server(['--release-on-ready']);
    await api.waitForWatches('pods');
    expect((await post(s, `holder=${NS}/app-2&duration=60`)).status).to.equal(200);
    api.patch('pods', NS, 'app-2', containersStatus([{ name: 'app', ready: true }]));
    const released = asEvent(await api.waitFor('events', (e) => e.reason === 'StartupLockReleased'));
    expect(released.message).to.match(
      /: the pod's own probes pass \(app: readinessProbe \(exec\) the kubelet reports ready\)$/,
    );
  });
});
