// The list+watch loop behind release-on-ready and health, in-process against the fake API: changes in
// order, DELETED for what vanished while disconnected, one health report per outage, clean stop.
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';
import { pino } from 'pino';
import { systemClock } from '../../src/clock.js';
import { leanList, leanWatch } from '../../src/kube/adapters.js';
import { AccessDeniedError, type ApiCallError } from '../../src/kube/api-error.js';
import { KubeApiClient } from '../../src/kube/client.js';
import { loadKubeCredentials } from '../../src/kube/credentials.js';
import { Reflector, type ChangeType } from '../../src/kube/reflector.js';
import { AsyncQueue } from '../support/async-queue.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { kubeConfigFor } from '../support/kube-client.js';
import { pod } from '../support/kube-pods.js';

type Change = { type: ChangeType; name: string };
type Health = AccessDeniedError | ApiCallError | null;

describe('Reflector (list + watch) against the fake API', function () {
  this.timeout(15_000);
  let api: FakeKubeApi;
  let reflector: Reflector<V1Pod>;
  let changes: AsyncQueue<Change>;
  let health: AsyncQueue<Health>;

  beforeEach(async () => {
    api = await FakeKubeApi.start();
    api.create('pods', pod('ns', 'a', 'node-1'));
    api.create('pods', pod('ns', 'b', 'node-1'));
    api.create('pods', pod('ns', 'other', 'node-2'));
    changes = new AsyncQueue();
    health = new AsyncQueue();
    const kubeConfig = kubeConfigFor(api);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = 'spec.nodeName=node-1';
    reflector = new Reflector<V1Pod>({
      kubeConfig,
      resource: 'pods',
      path: '/api/v1/pods',
      fieldSelector,
      list: () => core.listPodForAllNamespaces({ fieldSelector }),
      onChange: (type, obj) => changes.push({ type, name: obj.metadata?.name ?? '' }),
      onHealth: (error) => health.push(error),
      clock: systemClock,
      log: pino({ level: 'silent' }),
      backoff: { initialMs: 20, maxMs: 100 },
    });
  });

  afterEach(async () => {
    reflector.stop();
    await api.close();
  });

  it('lists, then reports every change the watch brings, for the selected objects only', async () => {
    reflector.start();
    expect(await changes.next()).to.deep.equal({ type: 'ADDED', name: 'a' });
    expect(await changes.next()).to.deep.equal({ type: 'ADDED', name: 'b' });
    await api.waitForWatches('pods');
    expect(reflector.synced).to.equal(true);
    api.patch('pods', 'ns', 'a', { status: { phase: 'Running' } });
    api.patch('pods', 'ns', 'other', { status: { phase: 'Running' } });
    api.delete('pods', 'ns', 'b');
    expect(await changes.next()).to.deep.equal({ type: 'MODIFIED', name: 'a' });
    expect(await changes.next()).to.deep.equal({ type: 'DELETED', name: 'b' });
    expect(reflector.items().map((p) => p.metadata?.name)).to.deep.equal(['a']);
    expect(reflector.get('ns', 'a')?.status?.phase).to.equal('Running');
  });

  it('after 410 Gone, lists again and reports what vanished meanwhile as DELETED', async () => {
    reflector.start();
    await changes.next();
    await changes.next();
    await api.waitForWatches('pods');
    api.dropWatches();
    api.delete('pods', 'ns', 'a');
    api.create('pods', pod('ns', 'c', 'node-1'));
    api.compactHistory();
    const seen = [await changes.next(), await changes.next()];
    expect(seen).to.have.deep.members([
      { type: 'DELETED', name: 'a' },
      { type: 'ADDED', name: 'c' },
    ]);
    expect(changes.pending).to.deep.equal([]);
  });

  it('reports a forbidden list once, keeps retrying with backoff, and reports recovery', async () => {
    const forbidden = api.fail({ status: 403, verb: 'list', resource: 'pods' });
    reflector.start();
    const error = await health.next();
    expect(error).to.be.instanceOf(AccessDeniedError);
    expect(error?.message).to.match(/^cannot list pods cluster-wide: forbidden/);
    await api.waitForRequest(() => forbidden.hits >= 3);
    expect(health.pending, 'no report per retry').to.deep.equal([]);
    forbidden.clear();
    expect(await health.next()).to.equal(null);
    expect(reflector.synced).to.equal(true);
  });

  it('stop() closes the watch and makes no further requests', async () => {
    reflector.start();
    await api.waitForWatches('pods');
    reflector.stop();
    const count = api.requests.length;
    await new Promise<void>((resolve) => {
      const check = () => (api.watchCount('pods') === 0 ? resolve() : setImmediate(check));
      check();
    });
    api.patch('pods', 'ns', 'a', { status: { phase: 'Running' } });
    expect(api.requests.length).to.equal(count);
  });

  it('on the lean client, keeps objects without managedFields when asked (the pod watcher does)', async () => {
    const managedFields = [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }];
    api.create('pods', pod('ns', 'c', 'node-1', { metadata: { managedFields } }));
    const client = new KubeApiClient(await loadKubeCredentials(await api.writeKubeconfig()));
    const fieldSelector = 'spec.nodeName=node-1';
    const lean = (dropManagedFields: boolean) =>
      new Reflector<V1Pod>({
        watchApi: leanWatch(client),
        resource: 'pods',
        path: '/api/v1/pods',
        fieldSelector,
        list: leanList<V1Pod>(client, '/api/v1/pods', { fieldSelector }),
        dropManagedFields,
        onChange: () => {},
        onSynced: () => synced.push(null),
        clock: systemClock,
        log: pino({ level: 'silent' }),
      });
    const synced = new AsyncQueue<null>();
    const [trimmed, full] = [lean(true), lean(false)];
    try {
      trimmed.start();
      full.start();
      await synced.next();
      await synced.next();
      await api.waitForWatches('pods', 2);
      expect(full.get('ns', 'c')?.metadata?.managedFields).to.deep.equal(managedFields);
      expect(trimmed.get('ns', 'c')?.metadata).to.not.have.property('managedFields');
      // And on the watch: a change that carries managedFields is stored without them.
      api.patch('pods', 'ns', 'b', { metadata: { managedFields, labels: { changed: 'yes' } } });
      const until = Date.now() + 5000;
      const seen = () =>
        full.get('ns', 'b')?.metadata?.managedFields !== undefined &&
        trimmed.get('ns', 'b')?.metadata?.resourceVersion === full.get('ns', 'b')?.metadata?.resourceVersion;
      while (!seen() && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(full.get('ns', 'b')?.metadata?.managedFields).to.deep.equal(managedFields);
      expect(trimmed.get('ns', 'b')?.metadata).to.not.have.property('managedFields');
    } finally {
      trimmed.stop();
      full.stop();
      client.close();
    }
  });
});
