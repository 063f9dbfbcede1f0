// The injector's certificate keeper in-process against the fake API server, with a clock the test moves:
// renewal before expiry, CA rotation that keeps trusting the old CA, the create race between replicas,
// and the messages RBAC errors produce.
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { signedBy, splitPem } from '../../src/inject/certs.js';
import { TlsKeeper, type TlsMaterial } from '../../src/inject/tls-keeper.js';
import { ManualClock } from '../support/fake-clock.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { kubeConfigFor } from '../support/kube-client.js';

const NS = 'startup-lock-system';
const SECRET = 'injector-tls';
const WEBHOOK = 'injector';
const DAY = 86_400_000;

describe('inject: certificate keeper (Secret, caBundle, renewal)', function () {
  this.timeout(30_000);
  let api: FakeKubeApi;
  let clock: ManualClock;

  beforeEach(async function () {
    api = await FakeKubeApi.start();
    clock = new ManualClock(Date.now());
    api.create('mutatingwebhookconfigurations', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: WEBHOOK },
      webhooks: [
        { name: 'a.inject.startup-lock.io', clientConfig: { service: { name: 'injector', namespace: NS } } },
      ],
    });
  });

  afterEach(async function () {
    await api.close();
  });

  function keeper(): { keeper: TlsKeeper; served: TlsMaterial[] } {
    const served: TlsMaterial[] = [];
    const k = new TlsKeeper({
      kubeConfig: kubeConfigFor(api, NS),
      namespace: NS,
      secretName: SECRET,
      webhookName: WEBHOOK,
      dnsNames: ['injector.startup-lock-system.svc'],
      certValidityMs: 90 * DAY,
      caValidityMs: 365 * DAY,
      renewBeforeMs: 30 * DAY,
      resyncMs: 60_000,
      clock,
      log: pino({ level: 'silent' }),
      onCertificate: (m) => served.push(m),
      // Stands in for the TLS handshake: the served certificate chains to a CA of the bundle.
      verify: (bundle) =>
        Promise.resolve(splitPem(bundle).some((ca) => signedBy(served.at(-1)?.certPem ?? '', ca))),
    });
    return { keeper: k, served };
  }

  const caBundle = () => {
    const config = api.get('mutatingwebhookconfigurations', undefined, WEBHOOK) as {
      webhooks: { clientConfig: { caBundle?: string } }[];
    };
    return Buffer.from(config.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString();
  };
  const notAfter = (pem: string) => Date.parse(new X509Certificate(pem).validTo);

  it('renews the serving certificate before it expires, with the same CA, and keeps the caBundle', async function () {
    const { keeper: k, served } = keeper();
    await k.sync();
    expect(k.ready, k.notReadyReason).to.equal(true);
    const first = served[0] as TlsMaterial;
    const bundle = caBundle();

    await clock.advance(59 * DAY); // 31 days left: not due yet
    await k.sync();
    expect(served).to.have.length(1);

    await clock.advance(2 * DAY); // 29 days left: due
    await k.sync();
    expect(served).to.have.length(2);
    const second = served[1] as TlsMaterial;
    expect(notAfter(second.certPem)).to.be.greaterThan(notAfter(first.certPem));
    expect(signedBy(second.certPem, splitPem(bundle)[0] ?? '')).to.equal(true);
    expect(caBundle()).to.equal(bundle);
    expect(k.ready).to.equal(true);
  });

  it('rotates the CA before it expires and keeps the old one in the caBundle until then', async function () {
    const { keeper: k, served } = keeper();
    await k.sync();
    const oldCa = splitPem(caBundle())[0] as string;
    await clock.advance(340 * DAY); // the CA has 25 days left
    await k.sync();
    const cas = splitPem(caBundle());
    expect(cas).to.have.length(2);
    expect(cas[1]).to.equal(oldCa);
    expect(signedBy(served.at(-1)?.certPem ?? '', cas[0] ?? '')).to.equal(true);
    expect(k.ready).to.equal(true);
  });

  it('a replica that loses the create race (409) uses the Secret the other one made', async function () {
    const a = keeper();
    const b = keeper();
    await a.keeper.sync();
    // B read "not found" just before A's create landed: its own create then meets 409 AlreadyExists.
    api.fail({ status: 404, verb: 'get', resource: 'secrets', times: 1 });
    await b.keeper.sync();
    expect(b.keeper.ready, b.keeper.notReadyReason).to.equal(true);
    expect(
      api.requests.filter((r) => r.verb === 'create' && r.resource === 'secrets').map((r) => r.status),
    ).to.deep.equal([201, 409]);
    expect(b.served[0]?.certPem).to.equal(a.served[0]?.certPem);
    expect(api.list('secrets', NS)).to.have.length(1);
  });

  it('stays not ready with a message naming the missing permission (403), and recovers when granted', async function () {
    const { keeper: k } = keeper();
    const rule = api.fail({ status: 403, verb: 'get', resource: 'secrets' });
    await k.sync();
    expect(k.ready).to.equal(false);
    expect(k.notReadyReason).to.match(
      /^cannot get secrets in namespace startup-lock-system: forbidden — .*cannot get resource "secrets"/,
    );
    rule.clear();
    await k.sync();
    expect(k.ready, k.notReadyReason).to.equal(true);
  });

  it('stays ready through an API outage while the trusted certificate is valid', async function () {
    const { keeper: k, served } = keeper();
    await k.sync();
    expect(k.ready).to.equal(true);
    const outage = api.fail({ status: 503 });
    await clock.advance(60_000);
    await k.sync();
    expect(outage.hits).to.be.greaterThan(0);
    expect(k.ready, k.notReadyReason).to.equal(true);
    expect(served).to.have.length(1);
    outage.clear();
    await k.sync();
    expect(k.ready).to.equal(true);
    // A definite answer is different: the caBundle wiped and no permission to patch it back.
    api.patch('mutatingwebhookconfigurations', undefined, WEBHOOK, {
      webhooks: [
        { name: 'a.inject.startup-lock.io', clientConfig: { service: { name: 'injector', namespace: NS } } },
      ],
    });
    api.fail({ status: 403, verb: 'patch', resource: 'mutatingwebhookconfigurations' });
    await k.sync();
    expect(k.ready).to.equal(false);
    expect(k.notReadyReason).to.match(/cannot patch mutatingwebhookconfigurations/);
  });

  it('fills a Secret created beforehand (no create permission needed), keeping its type', async function () {
    api.create('secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: SECRET, namespace: NS },
    });
    api.fail({ status: 403, verb: 'create', resource: 'secrets' });
    const { keeper: k } = keeper();
    await k.sync();
    expect(k.ready, k.notReadyReason).to.equal(true);
    const secret = api.get('secrets', NS, SECRET) as { type: string; data: Record<string, string> };
    expect(secret.type).to.equal('Opaque');
    expect(Object.keys(secret.data).sort()).to.deep.equal(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
  });

  it('says when its webhook configuration does not exist', async function () {
    api.delete('mutatingwebhookconfigurations', undefined, WEBHOOK);
    const { keeper: k } = keeper();
    await k.sync();
    expect(k.notReadyReason).to.equal('MutatingWebhookConfiguration injector not found (--webhook-name)');
  });
});
