// `startup-lock inject`, the real process over real TLS, against the fake API server: it issues its
// certificate into its Secret, patches its webhook configuration's caBundle, turns ready only then, and
// answers AdmissionReviews with JSON Patches that put exactly the library chart's container first.
import { expect } from 'chai';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';
import { get, requireHelm, type K8sObject } from '../chart/helm.js';
import { FakeKubeApi, type JsonObject } from '../support/fake-kube-api.js';
import {
  containerFileFrom,
  libraryApp,
  OWN_NAMESPACE,
  plainPod,
  podReview,
  postReview,
  renderInjector,
  SECRET_NAME,
  SERVICE_HOST,
  WEBHOOK_NAME,
  type Json,
} from '../support/inject-helpers.js';
import { startInjector as startInjectorProc, stopAll, type InjectorProc } from '../support/processes.js';

const { applyPatch } = fastJsonPatch;

type Injector = InjectorProc;

async function startInjector(
  kubeconfig: string,
  containerFile: string,
  extra: string[] = [],
): Promise<Injector> {
  return startInjectorProc([
    '--kubeconfig',
    kubeconfig,
    '--namespace',
    OWN_NAMESPACE,
    '--webhook-name',
    WEBHOOK_NAME,
    '--secret-name',
    SECRET_NAME,
    '--service-name',
    WEBHOOK_NAME,
    '--container-file',
    containerFile,
    '--resync',
    '200ms',
    ...extra,
  ]);
}

const isReady = (l: Record<string, unknown>) => typeof l.msg === 'string' && l.msg.endsWith(': ready');

async function readyz(inj: Injector): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${inj.healthPort}/readyz`);
  return { status: res.status, text: await res.text() };
}

function caBundleOf(api: FakeKubeApi): string {
  const config = api.get('mutatingwebhookconfigurations', undefined, WEBHOOK_NAME) as {
    webhooks: { clientConfig: { caBundle?: string } }[];
  };
  return Buffer.from(config.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString('utf8');
}

function handshake(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: SERVICE_HOST });
    socket.once('secureConnect', () => {
      resolve(socket.authorized);
      socket.destroy();
    });
    socket.once('error', () => resolve(false));
  });
}

/** Serial number of the certificate the webhook serves, over a handshake that must be trusted. */
function peerSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: SERVICE_HOST });
    socket.once('secureConnect', () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      if (socket.authorized) resolve(serial);
      else reject(new Error(`not trusted: ${String(socket.authorizationError)}`));
    });
    socket.once('error', reject);
  });
}

/** The pod after the webhook's answer: its JSON Patch applied with a JSON Patch library. */
function patched(pod: Json, answer: Json): Json {
  const response = answer.response as { patch?: string; patchType?: string };
  if (response.patch === undefined) return pod;
  expect(response.patchType).to.equal('JSONPatch');
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
  return applyPatch(structuredClone(pod), ops, true, false).newDocument;
}

const initNames = (pod: Json) =>
  ((pod.spec as { initContainers?: { name: string }[] }).initContainers ?? []).map((c) => c.name);

describe('inject: the admission webhook process', function () {
  this.timeout(60_000);
  let objects: K8sObject[];
  let dir: string;
  let containerFile: string;
  let library: Awaited<ReturnType<typeof libraryApp>>;
  let api: FakeKubeApi;
  let kubeconfig: string;

  before(async function () {
    requireHelm(this);
    dir = mkdtempSync(path.join(tmpdir(), 'startup-lock-inject-'));
    [objects, library] = await Promise.all([renderInjector(), libraryApp()]);
    containerFile = containerFileFrom(objects, dir);
  });

  after(function () {
    library?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async function () {
    api = await FakeKubeApi.start();
    kubeconfig = await api.writeKubeconfig();
    api.create('namespaces', { metadata: { name: OWN_NAMESPACE } });
    api.create('mutatingwebhookconfigurations', get(objects, 'MutatingWebhookConfiguration'));
  });

  afterEach(async function () {
    await stopAll();
    await api.close();
  });

  describe('admission reviews over TLS', function () {
    let inj: Injector;
    let ca: string;
    let expected: Json;

    beforeEach(async function () {
      inj = await startInjector(kubeconfig, containerFile);
      await inj.waitForLog(isReady);
      ca = caBundleOf(api);
      // The CI values set duration 2m and timeout 30m: the library, given the same, renders this.
      expected ??= await library.initContainer({ duration: '2m', timeout: '30m' });
    });

    it("puts the library chart's container first in a plain pod", async function () {
      const pod = plainPod();
      const answer = await postReview(inj.port, ca, podReview(pod));
      expect(answer.status).to.equal(200);
      const response = answer.body.response as Json;
      expect(response.allowed).to.equal(true);
      expect(response.uid).to.be.a('string').and.not.equal('');
      const after = patched(pod, answer.body);
      const init = (after.spec as { initContainers: Json[] }).initContainers;
      expect(init).to.have.length(1);
      expect(init[0]).to.deep.equal(expected);
      expect(after.spec as Json).to.deep.include({ containers: (pod.spec as Json).containers });
      const annotations = (after.metadata as { annotations: Record<string, string> }).annotations;
      expect(annotations['traffic.sidecar.istio.io/excludeOutboundPorts']).to.equal('8888');
      expect(annotations['config.linkerd.io/skip-outbound-ports']).to.equal('8888');
    });

    it('leaves a pod that already has it first unchanged', async function () {
      const pod = plainPod({
        initContainers: [expected, { name: 'migrate', image: 'app' }],
        annotations: {
          'traffic.sidecar.istio.io/excludeOutboundPorts': '8888',
          'config.linkerd.io/skip-outbound-ports': '8888',
        },
      });
      const answer = await postReview(inj.port, ca, podReview(pod));
      expect((answer.body.response as Json).patch).to.equal(undefined);
      expect(patched(pod, answer.body)).to.deep.equal(pod);
    });

    it('goes before an Istio init container and a native sidecar, and keeps their order', async function () {
      const istioInit = { name: 'istio-init', image: 'istio/proxyv2', args: ['istio-iptables'] };
      const sidecar = { name: 'istio-proxy', image: 'istio/proxyv2', restartPolicy: 'Always' };
      const pod = plainPod({
        initContainers: [istioInit, sidecar],
        annotations: { 'traffic.sidecar.istio.io/excludeOutboundPorts': '9090' },
      });
      const after = patched(pod, (await postReview(inj.port, ca, podReview(pod))).body);
      expect(initNames(after)).to.deep.equal(['startup-lock', 'istio-init', 'istio-proxy']);
      const init = (after.spec as { initContainers: Json[] }).initContainers;
      expect(init[0]).to.deep.equal(expected);
      expect(init.slice(1)).to.deep.equal([istioInit, sidecar]);
      const annotations = (after.metadata as { annotations: Record<string, string> }).annotations;
      expect(annotations['traffic.sidecar.istio.io/excludeOutboundPorts']).to.equal('9090,8888');
    });

    it('moves its container back first when another injector put one before it (reinvocation)', async function () {
      const pod = plainPod({ initContainers: [{ name: 'vault-agent-init', image: 'vault' }, expected] });
      const after = patched(pod, (await postReview(inj.port, ca, podReview(pod))).body);
      expect(initNames(after)).to.deep.equal(['startup-lock', 'vault-agent-init']);
      // A second pass (reinvocationPolicy IfNeeded) changes nothing more.
      const again = await postReview(inj.port, ca, podReview(after));
      expect((again.body.response as Json).patch).to.equal(undefined);
    });

    it('applies valid per-pod annotations, exactly as the library renders those settings', async function () {
      const pod = plainPod({
        annotations: { 'startup-lock.io/duration': '45s', 'startup-lock.io/fail-open-after': '0' },
      });
      const after = patched(pod, (await postReview(inj.port, ca, podReview(pod))).body);
      const want = await library.initContainer({ duration: '45s', timeout: '30m', failOpenAfter: '0' });
      expect((after.spec as { initContainers: Json[] }).initContainers[0]).to.deep.equal(want);
    });

    it('injects with the chart settings and a warning when an annotation is invalid', async function () {
      const pod = plainPod({ annotations: { 'startup-lock.io/timeout': 'soon' } });
      const answer = await postReview(inj.port, ca, podReview(pod));
      const response = answer.body.response as { warnings?: string[] };
      expect(response.warnings?.[0]).to.match(/startup-lock\.io\/timeout="soon" ignored/);
      expect((patched(pod, answer.body).spec as { initContainers: Json[] }).initContainers[0]).to.deep.equal(
        expected,
      );
      await inj.waitForLog((l) => Array.isArray(l.warnings) && l.msg === 'admission review');
    });

    const untouched: [string, () => Json][] = [
      [
        'a pod labelled startup-lock.io/inject: "false"',
        () => podReview(plainPod({ labels: { 'startup-lock.io/inject': 'false' } })),
      ],
      [
        'a DaemonSet-owned pod',
        () => {
          const pod = plainPod();
          (pod.metadata as Json).ownerReferences = [
            { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'ds', controller: true },
          ];
          return podReview(pod);
        },
      ],
      ['a mirror pod', () => podReview(plainPod({ annotations: { 'kubernetes.io/config.mirror': 'abc' } }))],
      ['a pod in kube-system', () => podReview(plainPod(), 'kube-system')],
      ["a pod in the webhook's own namespace", () => podReview(plainPod(), OWN_NAMESPACE)],
    ];
    for (const [what, review] of untouched) {
      it(`leaves ${what} unchanged`, async function () {
        const body = review();
        const answer = await postReview(inj.port, ca, body);
        const response = answer.body.response as Json;
        expect(response).to.deep.equal({ uid: (body.request as Json).uid, allowed: true });
      });
    }

    it('allows a wrong kind, a malformed review and a body that is not JSON unchanged, with a log line each', async function () {
      const deployment = podReview({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: {},
      });
      (deployment.request as Json).kind = { group: 'apps', version: 'v1', kind: 'Deployment' };
      const wrongKind = await postReview(inj.port, ca, deployment);
      expect(wrongKind.body.response).to.deep.equal({ uid: (deployment.request as Json).uid, allowed: true });

      const noSpec = podReview({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } });
      const malformed = await postReview(inj.port, ca, noSpec);
      expect(malformed.body.response).to.deep.equal({ uid: (noSpec.request as Json).uid, allowed: true });

      const notJson = await postReview(inj.port, ca, '{"apiVersion": "admission.k8s.io/v1", "kind": ');
      expect(notJson.status).to.equal(200);
      expect(notJson.body.response).to.deep.equal({ uid: '', allowed: true });

      const notReview = await postReview(inj.port, ca, { hello: 'world' });
      expect(notReview.body.response).to.deep.equal({ uid: '', allowed: true });

      await inj.waitForLog(
        () => inj.logs().filter((l) => l.msg === 'admission review allowed unchanged').length >= 4,
      );
      const metrics = await (await fetch(`http://127.0.0.1:${inj.healthPort}/metrics`)).text();
      expect(metrics).to.match(/startup_lock_injections_total\{result="invalid"\} 4/);
    });

    it('counts injections by result in /metrics', async function () {
      await postReview(inj.port, ca, podReview(plainPod()));
      await postReview(inj.port, ca, podReview(plainPod({ labels: { 'startup-lock.io/inject': 'false' } })));
      const metrics = await (await fetch(`http://127.0.0.1:${inj.healthPort}/metrics`)).text();
      expect(metrics).to.match(/startup_lock_injections_total\{result="injected"\} 1/);
      expect(metrics).to.match(/startup_lock_injections_total\{result="skipped"\} 1/);
      expect(metrics).to.match(/# HELP startup_lock_admission_duration_seconds /);
    });
  });

  describe('certificates against the API server', function () {
    it('creates the Secret, patches the caBundle, and turns ready only once a handshake with that CA succeeds', async function () {
      // The caBundle cannot be patched yet: the Secret is created but /readyz stays 503.
      const denied = api.fail({ status: 403, verb: 'patch', resource: 'mutatingwebhookconfigurations' });
      const inj = await startInjector(kubeconfig, containerFile);
      await api.waitFor('secrets', (s) => (s.metadata as JsonObject).name === SECRET_NAME);
      const err = await inj.waitForLog((l) => l.msg === 'webhook certificate not in place; not ready');
      expect(err.err).to.match(
        /cannot patch mutatingwebhookconfigurations\.admissionregistration\.k8s\.io cluster-wide: forbidden/,
      );
      const before = await readyz(inj);
      expect(before.status).to.equal(503);
      expect(before.text).to.match(/cannot patch mutatingwebhookconfigurations/);
      expect(caBundleOf(api)).to.equal('');

      denied.clear();
      await inj.waitForLog(isReady);
      const ca = caBundleOf(api);
      const secret = api.get('secrets', OWN_NAMESPACE, SECRET_NAME) as {
        type: string;
        data: Record<string, string>;
      };
      expect(secret.type).to.equal('kubernetes.io/tls');
      expect(Buffer.from(secret.data['ca.crt'] ?? '', 'base64').toString()).to.equal(ca);
      // Both webhooks of the configuration carry it.
      const config = api.get('mutatingwebhookconfigurations', undefined, WEBHOOK_NAME) as {
        webhooks: { clientConfig: { caBundle?: string } }[];
      };
      expect(config.webhooks.map((w) => w.clientConfig.caBundle)).to.deep.equal([
        secret.data['ca.crt'],
        secret.data['ca.crt'],
      ]);
      expect(await handshake(inj.port, ca)).to.equal(true);
      expect((await readyz(inj)).status).to.equal(200);
    });

    it('says which permission is missing when the Secret cannot be created (403)', async function () {
      api.fail({ status: 403, verb: 'create', resource: 'secrets' });
      const inj = await startInjector(kubeconfig, containerFile);
      const err = await inj.waitForLog((l) => l.msg === 'webhook certificate not in place; not ready');
      expect(err.err).to.match(
        /^cannot create secrets in namespace startup-lock-system: forbidden — .*cannot create resource "secrets"/,
      );
      const r = await readyz(inj);
      expect(r.status).to.equal(503);
      expect(r.text).to.match(/cannot create secrets in namespace startup-lock-system/);
    });

    it('renews its serving certificate while running and serves the new one without a restart', async function () {
      // A certificate of 1 hour renewed when less than 3599 s are left: due one second after issue.
      const inj = await startInjector(kubeconfig, containerFile, [
        '--cert-validity',
        '1h',
        '--renew-before',
        '3599s',
      ]);
      await inj.waitForLog(isReady);
      const ca = caBundleOf(api);
      const first = await peerSerial(inj.port, ca);
      await inj.waitForLog((l) => l.msg === 'renewed the webhook certificate');
      await inj.waitForLog(
        () => inj.logs().filter((l) => l.msg === 'serving certificate loaded').length >= 2,
      );
      const second = await peerSerial(inj.port, ca);
      expect(second).to.not.equal(first);
      // Same CA: the caBundle did not change, and the new certificate is trusted through it.
      expect(caBundleOf(api)).to.equal(ca);
      expect(await handshake(inj.port, ca)).to.equal(true);
    });

    it('two replicas end with one Secret and both serve certificates of its CA', async function () {
      const [a, b] = await Promise.all([
        startInjector(kubeconfig, containerFile),
        startInjector(kubeconfig, containerFile),
      ]);
      await Promise.all([a.waitForLog(isReady), b.waitForLog(isReady)]);
      expect(api.list('secrets', OWN_NAMESPACE)).to.have.length(1);
      const creates = api.requests.filter((r) => r.verb === 'create' && r.resource === 'secrets');
      expect(creates.length).to.be.within(1, 2);
      const ca = caBundleOf(api);
      expect(await handshake(a.port, ca)).to.equal(true);
      expect(await handshake(b.port, ca)).to.equal(true);
    });
  });
});
