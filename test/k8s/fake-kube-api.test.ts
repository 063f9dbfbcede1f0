// The fake kube-apiserver, checked through @kubernetes/client-node itself: if these pass, production code
// using the client cannot tell the fake from the real API for the behaviour the tests rely on.
import {
  CoordinationV1Api,
  CoreV1Api,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type KubeConfig,
  type V1Lease,
  type V1Pod,
} from '@kubernetes/client-node';
import { expect } from 'chai';
import { request } from 'node:http';
import { requestTimeout } from '../../src/kube/kube-config.js';
import { AsyncQueue } from '../support/async-queue.js';
import { FakeKubeApi, type JsonObject } from '../support/fake-kube-api.js';
import { kubeConfigFor, statusOf } from '../support/kube-client.js';

const pod = (name: string, extra: Partial<V1Pod> = {}, labels: Record<string, string> = {}): V1Pod => ({
  metadata: { name, labels },
  spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'app:1' }] },
  status: { phase: 'Pending' },
  ...extra,
});

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

/** Raw GET, for what the typed client hides (list shape, headers). */
function rawGet(api: FakeKubeApi, path: string, token: string | null = 'fake-token') {
  return new Promise<{ status: number; body: JsonObject }>((resolve, reject) => {
    const headers: Record<string, string> = token === null ? {} : { Authorization: `Bearer ${token}` };
    request(`${api.url}${path}`, { headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as JsonObject }));
    })
      .on('error', reject)
      .end();
  });
}

type Seen = { type: string; name: string; rv: string; code?: number };

describe('fake kube-apiserver', function () {
  let api: FakeKubeApi;
  let kc: KubeConfig;
  let core: CoreV1Api;
  const stops: (() => void)[] = [];

  beforeEach(async () => {
    api = await FakeKubeApi.start();
    kc = kubeConfigFor(api);
    core = kc.makeApiClient(CoreV1Api);
  });

  afterEach(async () => {
    for (const stop of stops.splice(0)) stop();
    await api.close();
  });

  async function watch(path: string, query: Record<string, string | boolean>) {
    const events = new AsyncQueue<Seen>();
    const done = new AsyncQueue<unknown>();
    const controller = await new Watch(kc).watch(
      path,
      query,
      (type, obj: JsonObject) => {
        const meta = (obj.metadata ?? {}) as JsonObject;
        const seen: Seen = { type, name: String(meta.name ?? ''), rv: String(meta.resourceVersion ?? '') };
        if (typeof obj.code === 'number') seen.code = obj.code;
        events.push(seen);
      },
      (err) => done.push(err ?? null),
    );
    stops.push(() => controller.abort());
    return { events, done };
  }

  describe('objects', () => {
    it('creates, reads and lists pods with server-set metadata', async () => {
      const created = await core.createNamespacedPod({ namespace: 'ns1', body: pod('p1') });
      expect(created.metadata?.uid).to.match(/^[0-9a-f-]{36}$/);
      expect(created.metadata?.namespace).to.equal('ns1');
      expect(created.metadata?.generation).to.equal(1);
      expect(created.metadata?.creationTimestamp).to.be.instanceOf(Date);
      const rv = Number(created.metadata?.resourceVersion);
      const second = await core.createNamespacedPod({ namespace: 'ns2', body: pod('p2') });
      expect(Number(second.metadata?.resourceVersion)).to.be.greaterThan(rv);

      const read = await core.readNamespacedPod({ namespace: 'ns1', name: 'p1' });
      expect(read.metadata?.uid).to.equal(created.metadata?.uid);
      const inNs = await core.listNamespacedPod({ namespace: 'ns1' });
      expect(inNs.items.map((p) => p.metadata?.name)).to.deep.equal(['p1']);
      const all = await core.listPodForAllNamespaces();
      expect(all.items.map((p) => p.metadata?.name)).to.deep.equal(['p1', 'p2']);
      expect(all.metadata?.resourceVersion).to.equal(api.resourceVersion);
    });

    it('answers lists in the real wire shape, cluster-wide and per namespace, for every API group', async () => {
      api.create('daemonsets.apps', { metadata: { name: 'ds', namespace: 'kube-system' }, spec: {} });
      api.create('nodes', { metadata: { name: 'node-a' } });
      const ds = await rawGet(api, '/apis/apps/v1/daemonsets');
      expect(ds.status).to.equal(200);
      expect(ds.body).to.include({ kind: 'DaemonSetList', apiVersion: 'apps/v1' });
      expect((ds.body.metadata as JsonObject).resourceVersion).to.equal(api.resourceVersion);
      expect((ds.body.items as JsonObject[])[0]).to.not.have.property('kind');
      const nsDs = await rawGet(api, '/apis/apps/v1/namespaces/kube-system/daemonsets/ds');
      expect(nsDs.body).to.include({ kind: 'DaemonSet', apiVersion: 'apps/v1' });
      const nodes = await rawGet(api, '/api/v1/nodes');
      expect((nodes.body.items as JsonObject[]).length).to.equal(1);
      expect((await rawGet(api, '/api/v1/namespaces/x/nodes')).status).to.equal(404);
      expect((await rawGet(api, '/apis/events.k8s.io/v1/namespaces/x/events')).body.kind).to.equal(
        'EventList',
      );
      expect((await rawGet(api, '/apis/coordination.k8s.io/v1/namespaces/x/leases')).body.kind).to.equal(
        'LeaseList',
      );
    });

    it('filters lists by label selector (=, !=, in, notin, exists, !exists)', async () => {
      api.create('pods', pod('a', {}, { app: 'web', tier: 'front' }));
      api.create('pods', pod('b', {}, { app: 'web' }));
      api.create('pods', pod('c', {}, { app: 'db', tier: 'back' }));
      const names = async (labelSelector: string) =>
        (await core.listNamespacedPod({ namespace: 'default', labelSelector })).items.map(
          (p) => p.metadata?.name,
        );
      expect(await names('app=web')).to.deep.equal(['a', 'b']);
      expect(await names('app==web,tier=front')).to.deep.equal(['a']);
      expect(await names('app!=web')).to.deep.equal(['c']);
      expect(await names('tier in (front, back)')).to.deep.equal(['a', 'c']);
      expect(await names('tier notin (front)')).to.deep.equal(['b', 'c']);
      expect(await names('tier')).to.deep.equal(['a', 'c']);
      expect(await names('!tier')).to.deep.equal(['b']);
      const bad = await caught(core.listNamespacedPod({ namespace: 'default', labelSelector: 'a in b' }));
      expect(statusOf(bad)).to.equal(400);
    });

    it('filters lists by field selector and refuses unsupported fields', async () => {
      api.create('pods', { ...pod('a'), spec: { nodeName: 'node-a' }, status: { phase: 'Running' } });
      api.create('pods', { ...pod('b'), spec: { nodeName: 'node-b' }, status: { phase: 'Pending' } });
      api.create('pods', {
        metadata: { name: 'c', namespace: 'other' },
        spec: {},
        status: { phase: 'Pending' },
      });
      const names = async (fieldSelector: string) =>
        (await core.listPodForAllNamespaces({ fieldSelector })).items.map((p) => p.metadata?.name);
      expect(await names('spec.nodeName=node-a')).to.deep.equal(['a']);
      expect(await names('spec.nodeName=')).to.deep.equal(['c']);
      expect(await names('status.phase=Pending,metadata.namespace=default')).to.deep.equal(['b']);
      expect(await names('status.phase!=Pending')).to.deep.equal(['a']);
      expect(await names('metadata.name=b')).to.deep.equal(['b']);
      const bad = await caught(core.listPodForAllNamespaces({ fieldSelector: 'spec.hostname=x' }));
      expect(statusOf(bad)).to.equal(400);
    });

    it('pages a list with limit and continue', async () => {
      for (const name of ['a', 'b', 'c']) api.create('pods', pod(name));
      const first = await core.listNamespacedPod({ namespace: 'default', limit: 2 });
      expect(first.items.map((p) => p.metadata?.name)).to.deep.equal(['a', 'b']);
      expect(first.metadata?.remainingItemCount).to.equal(1);
      const rest = await core.listNamespacedPod({
        namespace: 'default',
        limit: 2,
        _continue: first.metadata?._continue,
      });
      expect(rest.items.map((p) => p.metadata?.name)).to.deep.equal(['c']);
      expect(rest.metadata?._continue).to.equal(undefined);
    });

    it('answers 409 AlreadyExists, 404 NotFound and 401 Unauthorized as Status objects', async () => {
      await core.createNamespacedPod({ namespace: 'default', body: pod('p') });
      const exists = (await caught(core.createNamespacedPod({ namespace: 'default', body: pod('p') }))) as {
        body: string;
      };
      expect(statusOf(exists)).to.equal(409);
      expect(JSON.parse(exists.body)).to.include({ kind: 'Status', reason: 'AlreadyExists', code: 409 });
      const missing = (await caught(core.readNamespacedPod({ namespace: 'default', name: 'nope' }))) as {
        body: string;
      };
      expect(statusOf(missing)).to.equal(404);
      expect(JSON.parse(missing.body)).to.include({ reason: 'NotFound', message: 'pods "nope" not found' });
      const anonymous = await rawGet(api, '/api/v1/pods', null);
      expect(anonymous.status).to.equal(401);
      expect(anonymous.body).to.include({ kind: 'Status', reason: 'Unauthorized' });
    });

    it('patches with merge, strategic merge and JSON patch, and deletes', async () => {
      await core.createNamespacedPod({ namespace: 'default', body: pod('p', {}, { a: '1', b: '2' }) });
      const merged = await core.patchNamespacedPod(
        { namespace: 'default', name: 'p', body: { metadata: { labels: { a: null, c: '3' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      expect(merged.metadata?.labels).to.deep.equal({ b: '2', c: '3' });
      const strategic = await core.patchNamespacedPodStatus(
        {
          namespace: 'default',
          name: 'p',
          body: { status: { phase: 'Running' }, spec: { nodeName: 'elsewhere' } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      expect(strategic.status?.phase).to.equal('Running');
      expect(strategic.spec?.nodeName, 'the status subresource changes status only').to.equal('node-a');
      const patched = await core.patchNamespacedPod({
        namespace: 'default',
        name: 'p',
        body: [
          { op: 'test', path: '/metadata/labels/b', value: '2' },
          { op: 'replace', path: '/metadata/labels/b', value: '20' },
          { op: 'add', path: '/metadata/annotations', value: { x: 'y' } },
        ],
      });
      expect(patched.metadata?.labels).to.deep.equal({ b: '20', c: '3' });
      expect(patched.metadata?.annotations).to.deep.equal({ x: 'y' });
      const failedTest = await caught(
        core.patchNamespacedPod({
          namespace: 'default',
          name: 'p',
          body: [{ op: 'test', path: '/metadata/labels/b', value: 'nope' }],
        }),
      );
      expect(statusOf(failedTest)).to.equal(422);
      await core.deleteNamespacedPod({ namespace: 'default', name: 'p' });
      expect(api.get('pods', 'default', 'p')).to.equal(undefined);
    });
  });

  describe('leases and optimistic concurrency', () => {
    it('replaces a lease with the current resourceVersion and refuses a stale one with 409 Conflict', async () => {
      const leases = kc.makeApiClient(CoordinationV1Api);
      const body: V1Lease = {
        metadata: { name: 'lock' },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: new Date() },
      };
      const created = await leases.createNamespacedLease({ namespace: 'ns', body });
      const dup = await caught(leases.createNamespacedLease({ namespace: 'ns', body }));
      expect(statusOf(dup)).to.equal(409);

      const renewed = await leases.replaceNamespacedLease({
        namespace: 'ns',
        name: 'lock',
        body: { ...created, spec: { ...created.spec, holderIdentity: 'b' } },
      });
      expect(renewed.spec?.holderIdentity).to.equal('b');
      expect(Number(renewed.metadata?.resourceVersion)).to.be.greaterThan(
        Number(created.metadata?.resourceVersion),
      );

      const stale = (await caught(
        leases.replaceNamespacedLease({
          namespace: 'ns',
          name: 'lock',
          body: { ...created, spec: { ...created.spec, holderIdentity: 'c' } },
        }),
      )) as { body: string };
      expect(statusOf(stale)).to.equal(409);
      const status = JSON.parse(stale.body) as JsonObject;
      expect(status).to.include({ kind: 'Status', reason: 'Conflict', code: 409 });
      expect(String(status.message)).to.contain('the object has been modified');
      expect(api.get('leases', 'ns', 'lock')?.spec).to.include({ holderIdentity: 'b' });
    });

    it('keeps resourceVersion on a no-op update', async () => {
      const leases = kc.makeApiClient(CoordinationV1Api);
      const created = await leases.createNamespacedLease({
        namespace: 'ns',
        body: { metadata: { name: 'l' }, spec: { holderIdentity: 'a' } },
      });
      const same = await leases.replaceNamespacedLease({ namespace: 'ns', name: 'l', body: created });
      expect(same.metadata?.resourceVersion).to.equal(created.metadata?.resourceVersion);
    });
  });

  describe('watch', () => {
    it('flushes the headers of a watch before any event', async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${api.url}/api/v1/pods?watch=1&resourceVersion=${api.resourceVersion}`, {
          headers: { Authorization: 'Bearer fake-token' },
        });
        req.on('response', (res) => {
          resolve(res.statusCode ?? 0);
          req.destroy();
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).to.equal(200);
    });

    it('streams ADDED, MODIFIED and DELETED with increasing resourceVersions', async () => {
      const { events } = await watch('/api/v1/namespaces/default/pods', {
        resourceVersion: api.resourceVersion,
      });
      await api.waitForWatches('pods');
      api.create('pods', pod('p'));
      api.patch('pods', 'default', 'p', { status: { phase: 'Running' } });
      api.delete('pods', 'default', 'p');
      api.create('pods', {
        ...pod('elsewhere'),
        metadata: { name: 'x', namespace: 'other' },
      });
      const seen = [await events.next(), await events.next(), await events.next()];
      expect(seen.map((e) => e.type)).to.deep.equal(['ADDED', 'MODIFIED', 'DELETED']);
      const rvs = seen.map((e) => Number(e.rv));
      expect(rvs[0]).to.be.lessThan(rvs[1] as number);
      expect(rvs[1]).to.be.lessThan(rvs[2] as number);
      expect(events.pending, 'another namespace is not in this watch').to.deep.equal([]);
    });

    it('starts from the current state as ADDED events when no resourceVersion is given', async () => {
      api.create('pods', pod('old'));
      const { events } = await watch('/api/v1/pods', {});
      expect(await events.next()).to.include({ type: 'ADDED', name: 'old' });
    });

    it('replays the history after the given resourceVersion', async () => {
      const start = api.resourceVersion;
      api.create('pods', pod('a'));
      api.create('pods', pod('b'));
      api.delete('pods', 'default', 'a');
      const { events } = await watch('/api/v1/pods', { resourceVersion: start });
      const seen = [await events.next(), await events.next(), await events.next()];
      expect(seen.map((e) => `${e.type} ${e.name}`)).to.deep.equal(['ADDED a', 'ADDED b', 'DELETED a']);
    });

    it('turns a change into or out of the field selection into ADDED / DELETED', async () => {
      api.create('pods', pod('p'));
      const { events } = await watch('/api/v1/pods', {
        resourceVersion: api.resourceVersion,
        fieldSelector: 'status.phase=Running',
      });
      await api.waitForWatches('pods');
      api.patch('pods', 'default', 'p', { status: { phase: 'Running' } });
      api.patch('pods', 'default', 'p', { metadata: { labels: { x: 'y' } } });
      api.patch('pods', 'default', 'p', { status: { phase: 'Succeeded' } });
      const seen = [await events.next(), await events.next(), await events.next()];
      expect(seen.map((e) => e.type)).to.deep.equal(['ADDED', 'MODIFIED', 'DELETED']);
    });

    it('sends 410 Gone (reason Expired) as an ERROR event for a compacted resourceVersion', async () => {
      const start = api.resourceVersion;
      api.create('pods', pod('a'));
      api.compactHistory();
      const { events, done } = await watch('/api/v1/pods', { resourceVersion: start });
      const error = await events.next();
      expect(error).to.include({ type: 'ERROR', code: 410 });
      expect(await done.next()).to.equal(null);
    });

    it('expires the oldest events beyond the history limit', async () => {
      await api.close();
      api = await FakeKubeApi.start({ historyLimit: 2 });
      kc = kubeConfigFor(api);
      const start = api.resourceVersion;
      for (const name of ['a', 'b', 'c']) api.create('pods', pod(name));
      const { events } = await watch('/api/v1/pods', { resourceVersion: start });
      expect(await events.next()).to.include({ type: 'ERROR', code: 410 });
      const recent = await watch('/api/v1/pods', { resourceVersion: String(Number(start) + 1) });
      expect((await recent.events.next()).name).to.equal('b');
    });

    it('sends bookmarks to watches that allow them, and ends a watch after timeoutSeconds', async () => {
      const { events, done } = await watch('/api/v1/pods', {
        resourceVersion: api.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: '1',
      });
      const plain = await watch('/api/v1/pods', { resourceVersion: api.resourceVersion });
      await api.waitForWatches('pods', 2);
      api.create('pods', pod('a'));
      api.sendBookmarks();
      expect((await events.next()).type).to.equal('ADDED');
      const bookmark = await events.next();
      expect(bookmark.type).to.equal('BOOKMARK');
      expect(bookmark.rv).to.equal(api.resourceVersion);
      expect((await plain.events.next()).type).to.equal('ADDED');
      expect(await done.next(3000)).to.equal(null);
      expect(plain.events.pending).to.deep.equal([]);
    });

    it('ends watches on dropWatches()', async () => {
      const { done } = await watch('/api/v1/pods', { resourceVersion: api.resourceVersion });
      await api.waitForWatches('pods');
      expect(api.dropWatches()).to.equal(1);
      expect(await done.next()).to.equal(null);
      expect(api.watchCount()).to.equal(0);
    });
  });

  describe('informer', () => {
    function startInformer() {
      const informer = makeInformer<V1Pod>(kc, '/api/v1/namespaces/default/pods', () =>
        core.listNamespacedPod({ namespace: 'default' }),
      );
      const seen = new AsyncQueue<string>();
      informer.on('add', (p) => seen.push(`add ${p.metadata?.name}`));
      informer.on('update', (p) => seen.push(`update ${p.metadata?.name} ${p.status?.phase}`));
      informer.on('delete', (p) => seen.push(`delete ${p.metadata?.name}`));
      informer.on('error', (err) => seen.push(`error ${String(err)}`));
      stops.push(() => void informer.stop());
      return { informer, seen };
    }

    it('lists, then receives ADDED / MODIFIED / DELETED', async () => {
      api.create('pods', pod('before'));
      const { informer, seen } = startInformer();
      await informer.start();
      expect(await seen.next()).to.equal('add before');
      await api.waitForWatches('pods');
      api.create('pods', pod('p'));
      api.patch('pods', 'default', 'p', { status: { phase: 'Running' } });
      api.delete('pods', 'default', 'p');
      expect([await seen.next(), await seen.next(), await seen.next()]).to.deep.equal([
        'add p',
        'update p Running',
        'delete p',
      ]);
    });

    it('resumes from its resourceVersion after the watch stream drops, missing nothing', async () => {
      const { informer, seen } = startInformer();
      await informer.start();
      await api.waitForWatches('pods');
      api.dropWatches();
      api.create('pods', pod('during-gap'));
      expect(await seen.next()).to.equal('add during-gap');
      await api.waitForWatches('pods');
      api.create('pods', pod('after'));
      expect(await seen.next()).to.equal('add after');
      const watches = api.requests.filter((r) => r.verb === 'watch');
      expect(watches.length).to.be.greaterThanOrEqual(2);
    });

    it('relists after 410 Gone and catches up with changes it could not replay', async () => {
      api.create('pods', pod('doomed'));
      const { informer, seen } = startInformer();
      await informer.start();
      expect(await seen.next()).to.equal('add doomed');
      await api.waitForWatches('pods');
      const listsBefore = api.requests.filter((r) => r.verb === 'list').length;
      api.compactHistory();
      // Changes while the watch is down, then the history they were in is gone.
      api.dropWatches();
      api.delete('pods', 'default', 'doomed');
      api.create('pods', pod('new'));
      api.compactHistory();
      const both = [await seen.next(), await seen.next()].sort();
      expect(both).to.deep.equal(['add new', 'delete doomed']);
      expect(api.requests.filter((r) => r.verb === 'list').length).to.be.greaterThan(listsBefore);
    });

    it('reports an error (the caller restarts it) when the stream is cut abruptly', async () => {
      const { informer, seen } = startInformer();
      await informer.start();
      await api.waitForWatches('pods');
      api.dropWatches({ abrupt: true });
      expect(await seen.next()).to.match(/^error /);
    });
  });

  describe('failure injection', () => {
    it('answers 403 naming the verb, resource and namespace, for matching requests only', async () => {
      const leases = kc.makeApiClient(CoordinationV1Api);
      api.create('leases', { metadata: { name: 'l', namespace: 'team' }, spec: {} });
      const rule = api.fail({ status: 403, verb: 'update', resource: 'leases' });
      const lease = await leases.readNamespacedLease({ namespace: 'team', name: 'l' });
      const err = (await caught(
        leases.replaceNamespacedLease({ namespace: 'team', name: 'l', body: lease }),
      )) as { body: string };
      expect(statusOf(err)).to.equal(403);
      const status = JSON.parse(err.body) as JsonObject;
      expect(status).to.include({ kind: 'Status', reason: 'Forbidden', code: 403 });
      expect(status.message).to.equal(
        'leases.coordination.k8s.io "l" is forbidden: User "system:serviceaccount:default:startup-lock" cannot update resource "leases" in API group "coordination.k8s.io" in the namespace "team"',
      );
      expect(rule.hits).to.equal(1);
      rule.clear();
      await leases.replaceNamespacedLease({ namespace: 'team', name: 'l', body: lease });
    });

    it('fails a given number of times with 500, then recovers; 401 on demand', async () => {
      api.fail({ status: 500, resource: 'pods', times: 2 });
      expect(statusOf(await caught(core.listNamespacedPod({ namespace: 'default' })))).to.equal(500);
      expect(statusOf(await caught(core.listNamespacedPod({ namespace: 'default' })))).to.equal(500);
      await core.listNamespacedPod({ namespace: 'default' });
      api.fail({ status: 401, verb: ['list'] });
      expect(statusOf(await caught(core.listNamespacedPod({ namespace: 'default' })))).to.equal(401);
      api.clearFailures();
      await core.listNamespacedPod({ namespace: 'default' });
    });

    it('can leave requests unanswered, which requestTimeout() cuts short', async () => {
      const hang = api.fail({ status: 'hang', verb: 'list', resource: 'pods', times: 1 });
      const started = Date.now();
      const err = await caught(core.listNamespacedPod({ namespace: 'default' }, requestTimeout(300)));
      expect(statusOf(err)).to.equal(undefined);
      expect(Date.now() - started).to.be.within(250, 3000);
      expect(hang.hits).to.equal(1);
      await core.listNamespacedPod({ namespace: 'default' }, requestTimeout(2000));
    });

    it('resets connections, and goes unreachable and back on the same port', async () => {
      api.fail({ status: 'reset', verb: 'get', times: 1 });
      const reset = (await caught(core.readNamespacedPod({ namespace: 'default', name: 'x' }))) as Error;
      expect(statusOf(reset)).to.equal(undefined);
      await api.goUnreachable();
      const refused = (await caught(core.listNamespacedPod({ namespace: 'default' }))) as Error;
      expect(String(refused.message)).to.contain('ECONNREFUSED');
      await api.goReachable();
      expect((await core.listNamespacedPod({ namespace: 'default' })).items).to.deep.equal([]);
    });
  });

  it('writes a kubeconfig that client-node loads and uses', async () => {
    const file = await api.writeKubeconfig();
    const { KubeConfig } = await import('@kubernetes/client-node');
    const fromFile = new KubeConfig();
    fromFile.loadFromFile(file);
    expect(fromFile.getCurrentCluster()?.server).to.equal(api.url);
    const list = await fromFile.makeApiClient(CoreV1Api).listNode();
    expect(list.items).to.deep.equal([]);
  });
});
