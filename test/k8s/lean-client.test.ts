// The lean Kubernetes API path (src/kube/) against the fake API server: list, watch (events, bookmarks,
// 410 Gone), errors sorted as src/kube/api-error.ts sorts client-node's, and every kind of credentials the
// server accepts (in-cluster token and CA, kubeconfig with a token or a client certificate).
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { AccessDeniedError, ApiCallError, classifyApiError } from '../../src/kube/api-error.js';
import { isGone, leanEventsApi, leanList, leanWatch } from '../../src/kube/adapters.js';
import { KubeApiClient, KubeApiStatusError } from '../../src/kube/client.js';
import { loadKubeCredentials, type KubeCredentials } from '../../src/kube/credentials.js';
import { makeClientCert } from '../support/client-cert.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { makeThrowawayCa, type ThrowawayCa } from '../support/throwaway-ca.js';

interface Pod {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
  };
  spec?: { nodeName?: string };
}

const pod = (name: string, nodeName = 'n1', labels: Record<string, string> = {}) => ({
  metadata: { name, namespace: 'ns', labels },
  spec: { nodeName },
});

/** Watch events as they arrive, and how the stream ended. */
function recorder() {
  const events: { type: string; object: Pod }[] = [];
  let resolveDone: (err: unknown) => void = () => {};
  const ended = new Promise<unknown>((r) => (resolveDone = r));
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    events,
    ended,
    onEvent: (type: string, object: unknown) => {
      events.push({ type, object: object as Pod });
      for (const w of waiters.filter((w) => events.length >= w.n)) w.resolve();
    },
    done: (err: unknown) => resolveDone(err),
    until: (n: number) =>
      new Promise<void>((resolve) => (events.length >= n ? resolve() : waiters.push({ n, resolve }))),
  };
}

const credentialsFor = (api: FakeKubeApi, token = 'fake-token'): KubeCredentials => ({
  server: api.url,
  insecureSkipTlsVerify: false,
  authorization: () => `Bearer ${token}`,
  rejected: () => {},
});

describe('lean Kubernetes API client', () => {
  let api: FakeKubeApi;
  let client: KubeApiClient;
  const controllers: AbortController[] = [];

  beforeEach(async () => {
    api = await FakeKubeApi.start();
    client = new KubeApiClient(credentialsFor(api));
  });

  afterEach(async () => {
    for (const c of controllers.splice(0)) c.abort();
    client.close();
    await api.close();
  });

  it('lists with field and label selectors and returns the resourceVersion to watch from', async () => {
    api.create('pods', pod('a', 'n1', { app: 'x' }));
    api.create('pods', pod('b', 'n1', { app: 'y' }));
    api.create('pods', pod('c', 'n2', { app: 'x' }));
    const list = await client.list<Pod>('/api/v1/pods', {
      fieldSelector: 'spec.nodeName=n1',
      labelSelector: 'app=x',
    });
    expect(list.items.map((p) => p.metadata.name)).to.deep.equal(['a']);
    expect(list.metadata.resourceVersion).to.equal(api.resourceVersion);
    const adapted = await leanList<Pod>(client, '/api/v1/pods', { fieldSelector: 'spec.nodeName=n1' })();
    expect(adapted.items.map((p) => p.metadata.name).sort()).to.deep.equal(['a', 'b']);
  });

  it('watches from a resourceVersion: changes as ADDED, MODIFIED, DELETED, and BOOKMARKs', async () => {
    api.create('pods', pod('a'));
    const list = await client.list<Pod>('/api/v1/pods', { fieldSelector: 'spec.nodeName=n1' });
    const r = recorder();
    controllers.push(
      await leanWatch(client).watch(
        '/api/v1/pods',
        {
          fieldSelector: 'spec.nodeName=n1',
          resourceVersion: list.metadata.resourceVersion,
          allowWatchBookmarks: true,
        },
        r.onEvent,
        r.done,
      ),
    );
    await api.waitForWatches('pods');
    api.create('pods', pod('b'));
    api.create('pods', pod('elsewhere', 'n2'));
    api.patch('pods', 'ns', 'a', { metadata: { labels: { ready: 'yes' } } });
    api.delete('pods', 'ns', 'b');
    api.sendBookmarks();
    await r.until(4);
    expect(r.events.map((e) => `${e.type} ${e.object.metadata.name ?? ''}`)).to.deep.equal([
      'ADDED b',
      'MODIFIED a',
      'DELETED b',
      'BOOKMARK ',
    ]);
    expect(r.events[3]!.object.metadata.resourceVersion).to.equal(api.resourceVersion);
  });

  it('ends the watch cleanly (done(null)) when the server ends it, and on abort', async () => {
    const r = recorder();
    await client.watch('/api/v1/pods', { timeoutSeconds: 1 }, r.onEvent, r.done);
    await api.waitForWatches('pods');
    api.dropWatches();
    expect(await r.ended).to.equal(null);
    const r2 = recorder();
    const controller = await client.watch('/api/v1/pods', {}, r2.onEvent, r2.done);
    controller.abort();
    expect(await r2.ended).to.equal(null);
  });

  it('passes on 410 Gone for a compacted resourceVersion as an ERROR event: the signal to list again', async () => {
    const rv = api.resourceVersion;
    api.create('pods', pod('a'));
    api.compactHistory();
    const r = recorder();
    await client.watch('/api/v1/pods', { resourceVersion: rv }, r.onEvent, r.done);
    await r.until(1);
    expect(r.events[0]!.type).to.equal('ERROR');
    expect(isGone(r.events[0]!.object)).to.equal(true);
    expect(await r.ended).to.equal(null);
  });

  for (const [status, kind, pattern] of [
    [401, AccessDeniedError, /cannot list pods cluster-wide: unauthorized/],
    [403, AccessDeniedError, /cannot list pods cluster-wide: forbidden — .*cannot list resource "pods"/],
    [500, ApiCallError, /list pods failed: HTTP 500/],
  ] as const) {
    it(`answers ${status} with an error that classifyApiError sorts as ${kind.name}`, async () => {
      api.fail({ status, verb: 'list', resource: 'pods' });
      const err = await client.list('/api/v1/pods').catch((e: unknown) => e);
      expect(err).to.be.instanceOf(KubeApiStatusError);
      expect((err as KubeApiStatusError).statusCode).to.equal(status);
      const classified = classifyApiError(err, { verb: 'list', resource: 'pods' });
      expect(classified).to.be.instanceOf(kind);
      expect(classified.message).to.match(pattern);
    });
  }

  it('reports a refused watch through done(), as client-node does', async () => {
    api.fail({ status: 403, verb: 'watch', resource: 'pods' });
    const r = recorder();
    await client.watch('/api/v1/pods', {}, r.onEvent, r.done);
    const err = await r.ended;
    expect(classifyApiError(err, { verb: 'watch', resource: 'pods' })).to.be.instanceOf(AccessDeniedError);
  });

  it('reports a reset connection as a retryable ApiCallError, on a list and on an open watch', async () => {
    api.fail({ status: 'reset', verb: 'list', resource: 'pods', times: 1 });
    const err = await client.list('/api/v1/pods').catch((e: unknown) => e);
    const classified = classifyApiError(err, { verb: 'list', resource: 'pods' });
    expect(classified).to.be.instanceOf(ApiCallError);
    expect(classified.message).to.match(/ECONNRESET|socket hang up/);
    expect((await client.list('/api/v1/pods')).items).to.deep.equal([]);

    const r = recorder();
    await client.watch('/api/v1/pods', {}, r.onEvent, r.done);
    await api.waitForWatches('pods');
    api.dropWatches({ abrupt: true });
    const ended = await r.ended;
    expect(ended).to.be.instanceOf(Error);
    expect(classifyApiError(ended, { verb: 'watch', resource: 'pods' })).to.be.instanceOf(ApiCallError);
  });

  it('times out a request the API never answers', async () => {
    api.fail({ status: 'hang', verb: 'list', resource: 'pods' });
    const err = await client.list('/api/v1/pods', {}, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(classifyApiError(err, { verb: 'list', resource: 'pods' }).message).to.match(/ETIMEDOUT/);
  });

  it('creates Events and reads pods through the Event recorder’s API shape', async () => {
    const created = api.create('pods', pod('a'));
    const events = leanEventsApi(client);
    const read = await events.readNamespacedPod({ namespace: 'ns', name: 'a' });
    expect(read.metadata?.uid).to.equal((created.metadata as { uid: string }).uid);
    const at = new Date();
    await events.createNamespacedEvent({
      namespace: 'ns',
      body: {
        metadata: { name: 'a.1', namespace: 'ns' },
        involvedObject: { kind: 'Pod', name: 'a', namespace: 'ns' },
        reason: 'StartupLockGranted',
        firstTimestamp: at,
      },
    });
    const stored = api.get('events', 'ns', 'a.1') as { reason: string; firstTimestamp: string };
    expect(stored.reason).to.equal('StartupLockGranted');
    expect(stored.firstTimestamp).to.equal(at.toISOString());
  });
});

describe('lean Kubernetes API credentials', () => {
  let ca: ThrowawayCa;
  let dir: string;
  let api: FakeKubeApi | undefined;
  let client: KubeApiClient | undefined;

  before(() => {
    ca = makeThrowawayCa();
  });
  after(() => ca.remove());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lean-creds-'));
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await api?.close();
    api = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const tls = () => ({ cert: ca.certPem, key: ca.keyPem, ca: ca.caPem });

  it('in a pod: reaches $KUBERNETES_SERVICE_HOST:PORT over TLS with the service account CA and token', async () => {
    api = await FakeKubeApi.start({ tls: tls() });
    writeFileSync(join(dir, 'token'), 'fake-token\n');
    writeFileSync(join(dir, 'ca.crt'), ca.caPem);
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) };
    const creds = await loadKubeCredentials('', { env, serviceAccountDir: dir });
    expect(creds.server).to.equal(api.url);
    client = new KubeApiClient(creds);
    expect((await client.list('/api/v1/pods')).items).to.deep.equal([]);
  });

  it('in a pod: refuses a server whose certificate the service account CA did not sign', async () => {
    api = await FakeKubeApi.start({ tls: tls() });
    const other = makeThrowawayCa();
    try {
      writeFileSync(join(dir, 'token'), 'fake-token');
      writeFileSync(join(dir, 'ca.crt'), other.caPem);
      const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) };
      client = new KubeApiClient(await loadKubeCredentials('', { env, serviceAccountDir: dir }));
      const err = await client.list('/api/v1/pods').catch((e: unknown) => e);
      expect(classifyApiError(err, { verb: 'list', resource: 'pods' }).message).to.match(
        /certificate|UNABLE_TO_VERIFY|self.signed/i,
      );
    } finally {
      other.remove();
    }
  });

  it('in a pod: reads the token file again after a minute, and at once after a 401 (rotation)', async () => {
    api = await FakeKubeApi.start({ tls: tls() });
    writeFileSync(join(dir, 'token'), 'fake-token');
    writeFileSync(join(dir, 'ca.crt'), ca.caPem);
    let now = 0;
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) };
    const creds = await loadKubeCredentials('', { env, serviceAccountDir: dir, now: () => now });
    client = new KubeApiClient(creds);
    await client.list('/api/v1/pods');
    // Rotated to a token the server does not accept: used once the cached one is a minute old.
    writeFileSync(join(dir, 'token'), 'revoked');
    await client.list('/api/v1/pods');
    now += 60_000;
    const err = await client.list('/api/v1/pods').catch((e: unknown) => e);
    expect((err as KubeApiStatusError).statusCode).to.equal(401);
    // Rotated again: the 401 made the next request read the file, without waiting a minute.
    writeFileSync(join(dir, 'token'), 'fake-token');
    expect((await client.list('/api/v1/pods')).items).to.deep.equal([]);
  });

  it('in a pod: a missing service account token is a configuration error', async () => {
    writeFileSync(join(dir, 'ca.crt'), ca.caPem);
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const err = await loadKubeCredentials('', { env, serviceAccountDir: dir }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.match(/--kubeconfig: cannot read the token file/);
  });

  it('outside a pod without a kubeconfig: the same ConfigError as today', async () => {
    const err = await loadKubeCredentials('', { env: {} }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.include('--kubeconfig: not running in a pod');
  });

  it('kubeconfig with a token and certificate-authority-data', async () => {
    api = await FakeKubeApi.start({ tls: tls() });
    const file = await api.writeKubeconfig(join(dir, 'kubeconfig'), 'team-a');
    const creds = await loadKubeCredentials(file);
    expect(creds.namespace).to.equal('team-a');
    client = new KubeApiClient(creds);
    api.create('pods', pod('a'));
    expect((await client.list<Pod>('/api/v1/pods')).items).to.have.length(1);
  });

  it('kubeconfig with a tokenFile and a certificate-authority file, relative to the kubeconfig', async () => {
    api = await FakeKubeApi.start({ tls: tls() });
    writeFileSync(join(dir, 'token'), 'fake-token');
    writeFileSync(join(dir, 'ca.pem'), ca.caPem);
    const file = writeKubeconfig(
      dir,
      { server: api.url, 'certificate-authority': 'ca.pem' },
      { tokenFile: 'token' },
    );
    client = new KubeApiClient(await loadKubeCredentials(file));
    expect((await client.list('/api/v1/pods')).items).to.deep.equal([]);
  });

  it('kubeconfig with a client certificate (files, or inline data), and no token', async () => {
    api = await FakeKubeApi.start({ tls: { ...tls(), clientCa: ca.caPem } });
    const cert = makeClientCert(ca);
    const cluster = {
      server: api.url,
      'certificate-authority-data': Buffer.from(ca.caPem).toString('base64'),
    };
    const withFiles = writeKubeconfig(dir, cluster, {
      'client-certificate': cert.certFile,
      'client-key': cert.keyFile,
    });
    client = new KubeApiClient(await loadKubeCredentials(withFiles));
    expect((await client.list('/api/v1/pods')).items).to.deep.equal([]);
    client.close();
    const inline = writeKubeconfig(dir, cluster, {
      'client-certificate-data': Buffer.from(cert.certPem).toString('base64'),
      'client-key-data': Buffer.from(cert.keyPem).toString('base64'),
    });
    client = new KubeApiClient(await loadKubeCredentials(inline));
    expect((await client.list('/api/v1/pods')).items).to.deep.equal([]);
    client.close();
    // Without the certificate the same server wants a token.
    client = new KubeApiClient(await loadKubeCredentials(writeKubeconfig(dir, cluster, {})));
    const err = await client.list('/api/v1/pods').catch((e: unknown) => e);
    expect((err as KubeApiStatusError).statusCode).to.equal(401);
  });

  it('kubeconfig with insecure-skip-tls-verify talks to a server it cannot verify', async () => {
    api = await FakeKubeApi.start({ tls: tls() });
    const file = writeKubeconfig(
      dir,
      { server: api.url, 'insecure-skip-tls-verify': true },
      { token: 'fake-token' },
    );
    client = new KubeApiClient(await loadKubeCredentials(file));
    expect((await client.list('/api/v1/pods')).items).to.deep.equal([]);
  });

  it('kubeconfig with an exec plugin: refused, saying to use in-cluster credentials or a token or certificate', async () => {
    const file = writeKubeconfig(
      dir,
      { server: 'https://127.0.0.1:6443' },
      { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws' } },
    );
    const err = await loadKubeCredentials(file).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.match(
      /--kubeconfig: cannot load .*: user "u" authenticates with an exec plugin.*use in-cluster credentials/,
    );
  });

  it('a kubeconfig it cannot read, or without a current cluster: the same ConfigErrors as today', async () => {
    const missing = await loadKubeCredentials('/nonexistent/kubeconfig').catch((e: unknown) => e);
    expect((missing as Error).message).to.match(/--kubeconfig: cannot load \/nonexistent\/kubeconfig/);
    writeFileSync(join(dir, 'empty'), 'apiVersion: v1\nkind: Config\n');
    const empty = await loadKubeCredentials(join(dir, 'empty')).catch((e: unknown) => e);
    expect((empty as Error).message).to.match(/has no current context with a cluster/);
  });
});

function writeKubeconfig(dir: string, cluster: object, user: object): string {
  const file = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    file,
    toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'ctx',
    }),
  );
  return file;
}
