// The webhook's own certificates, kept in one Secret that every replica shares, and the caBundle of its
// own MutatingWebhookConfiguration. One sync round: read the Secret (create it when absent: a 409 means
// another replica won, so read theirs), renew what nears expiry (a 409 on replace: read again), hand the
// serving certificate to the TLS server, patch the caBundle when it differs, and ask the caller whether
// a TLS handshake trusting that caBundle succeeds. Ready only after all of it.
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Secret,
} from '@kubernetes/client-node';
import type { Clock, TimerHandle } from '../clock.js';
import { ApiCallError, classifyApiError, statusOf, type ApiCall } from '../kube/api-error.js';
import { requestTimeout } from '../kube/kube-config.js';
import type { Logger } from '../log.js';
import { expiresAt, issueCa, issueServing, signedBy, splitPem, type KeyPair } from './certs.js';

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  /** The CAs the API server is told to trust, PEM. */
  caBundle: string;
}

export interface TlsKeeperOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  secretName: string;
  webhookName: string;
  dnsNames: string[];
  certValidityMs: number;
  caValidityMs: number;
  renewBeforeMs: number;
  resyncMs: number;
  clock: Clock;
  log: Logger;
  /** Serve this certificate from now on. */
  onCertificate(material: TlsMaterial): void;
  /** Does a TLS handshake with the serving certificate succeed when trusting `caBundle`? */
  verify(caBundle: string): Promise<boolean>;
}

const API_TIMEOUT_MS = 5000;
const KEYS = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

interface Stored {
  secret: V1Secret;
  ca: KeyPair;
  caBundle: string;
  serving: KeyPair;
}

export class TlsKeeper {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private served = '';
  private lastProblem = '';
  private running: Promise<void> | undefined;
  /** The serving certificate a handshake trusting the caBundle last accepted. */
  private trusted = '';
  private lastRoundFailed = false;
  private nextRenewal = Infinity;
  /** Why the webhook is not ready; empty once it is. */
  notReadyReason = 'certificate not issued yet';

  constructor(private readonly opts: TlsKeeperOptions) {
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.admission = opts.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  }

  get ready(): boolean {
    return this.notReadyReason === '';
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** One round; never throws (a problem is logged once and leaves the webhook not ready). */
  sync(): Promise<void> {
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.opts.clock.setTimer(ms, () => {
      void this.sync().then(() => this.schedule(this.nextSyncIn()));
    });
  }

  private nextSyncIn(): number {
    // After a failed round, the next try is a resync away: a renewal that keeps failing (403 on update)
    // must not turn into a loop hammering the API server.
    if (this.lastRoundFailed) return this.opts.resyncMs;
    const untilRenewal = this.nextRenewal - this.opts.clock.now();
    return Math.max(Math.min(1000, this.opts.resyncMs), Math.min(this.opts.resyncMs, untilRenewal));
  }

  private async round(): Promise<void> {
    const { log } = this.opts;
    try {
      const stored = await this.ensureSecret();
      const material = {
        certPem: stored.serving.certPem,
        keyPem: stored.serving.keyPem,
        caBundle: stored.caBundle,
      };
      if (material.certPem !== this.served) {
        this.opts.onCertificate(material);
        this.served = material.certPem;
        log.info(
          {
            secret: `${this.opts.namespace}/${this.opts.secretName}`,
            expires: new Date(expiresAt(material.certPem)).toISOString(),
          },
          'serving certificate loaded',
        );
      }
      this.nextRenewal =
        Math.min(expiresAt(stored.serving.certPem), expiresAt(stored.ca.certPem)) - this.opts.renewBeforeMs;
      const trusted = await this.ensureCaBundle(stored.caBundle);
      if (!(await this.opts.verify(trusted))) {
        throw new Error(
          `a TLS handshake trusting the caBundle of MutatingWebhookConfiguration ${this.opts.webhookName} fails`,
        );
      }
      if (!this.ready)
        log.info({ webhook: this.opts.webhookName }, 'serving a certificate the API server trusts: ready');
      this.notReadyReason = '';
      this.lastProblem = '';
      this.trusted = this.served;
      this.lastRoundFailed = false;
    } catch (err) {
      const message = (err as Error).message;
      this.lastRoundFailed = true;
      // An API server that is briefly unreachable (connection errors, 5xx, 429) must not take every
      // replica out of the Service: what was verified trusted and has not expired stays served, and
      // ready. A definite answer (403, a caBundle that does not verify, no configuration) is not that.
      const stillTrusted =
        err instanceof ApiCallError &&
        this.trusted !== '' &&
        this.trusted === this.served &&
        expiresAt(this.served) > this.opts.clock.now();
      if (stillTrusted) {
        if (message !== this.lastProblem) {
          log.warn({ err: message }, 'certificate sync failed; still serving the trusted certificate');
        }
      } else {
        this.notReadyReason = message;
        if (message !== this.lastProblem)
          log.error({ err: message }, 'webhook certificate not in place; not ready');
      }
      this.lastProblem = message;
    }
  }

  private call(verb: ApiCall['verb'], resource: string, name: string, namespace?: string): ApiCall {
    return namespace === undefined ? { verb, resource, name } : { verb, resource, name, namespace };
  }

  private async readSecret(): Promise<V1Secret | undefined> {
    const { namespace, secretName: name } = this.opts;
    try {
      return await this.core.readNamespacedSecret({ name, namespace }, requestTimeout(API_TIMEOUT_MS));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw classifyApiError(err, this.call('get', 'secrets', name, namespace));
    }
  }

  private async ensureSecret(): Promise<Stored> {
    const { namespace, secretName: name, log } = this.opts;
    for (let attempt = 0; attempt < 3; attempt++) {
      const secret = await this.readSecret();
      if (secret === undefined) {
        const stored = this.issue(undefined);
        try {
          await this.core.createNamespacedSecret(
            { namespace, body: stored.secret },
            requestTimeout(API_TIMEOUT_MS),
          );
          log.info({ secret: `${namespace}/${name}` }, 'created the webhook CA and serving certificate');
          return stored;
        } catch (err) {
          // 409: another replica created it first; theirs is the one every replica uses.
          if (statusOf(err) === 409) continue;
          throw classifyApiError(err, this.call('create', 'secrets', name, namespace));
        }
      }
      const current = this.parse(secret);
      const renewed = this.renewIfDue(secret, current);
      if (renewed === undefined) return current as Stored;
      try {
        const body = {
          ...renewed.secret,
          metadata: { ...renewed.secret.metadata, resourceVersion: secret.metadata?.resourceVersion },
        };
        await this.core.replaceNamespacedSecret({ name, namespace, body }, requestTimeout(API_TIMEOUT_MS));
        log.info(
          { secret: `${namespace}/${name}`, rotatedCa: renewed.ca.certPem !== current?.ca.certPem },
          'renewed the webhook certificate',
        );
        return renewed;
      } catch (err) {
        if (statusOf(err) === 409) continue; // another replica renewed it: use theirs
        throw classifyApiError(err, this.call('update', 'secrets', name, namespace));
      }
    }
    throw new Error(`secret ${namespace}/${name} keeps changing under this replica (409 three times)`);
  }

  private parse(secret: V1Secret): Stored | undefined {
    const data = secret.data ?? {};
    const caBundle = unb64(data[KEYS.caCert]);
    const ca = { certPem: splitPem(caBundle)[0] ?? '', keyPem: unb64(data[KEYS.caKey]) };
    const serving = { certPem: unb64(data[KEYS.cert]), keyPem: unb64(data[KEYS.key]) };
    if (ca.certPem === '' || ca.keyPem === '' || serving.certPem === '' || serving.keyPem === '')
      return undefined;
    try {
      expiresAt(ca.certPem);
      expiresAt(serving.certPem);
    } catch {
      return undefined;
    }
    return { secret, ca, caBundle, serving };
  }

  /** The renewed contents when something is due (or unusable), undefined when all is well. */
  private renewIfDue(secret: V1Secret, current: Stored | undefined): Stored | undefined {
    const now = this.opts.clock.now();
    const due = (pem: string) => expiresAt(pem) - this.opts.renewBeforeMs <= now;
    if (current === undefined) {
      this.opts.log.warn(
        { secret: this.opts.secretName },
        'the webhook Secret is incomplete or unreadable: issuing anew',
      );
      return this.issue(secret);
    }
    if (due(current.ca.certPem)) return this.issue(secret, current.ca.certPem);
    if (due(current.serving.certPem) || !signedBy(current.serving.certPem, current.ca.certPem)) {
      const serving = issueServing(current.ca, this.opts.dnsNames, now, this.opts.certValidityMs);
      return this.toStored(secret, current.ca, current.caBundle, serving);
    }
    return undefined;
  }

  /** A new CA and serving certificate; a CA being replaced stays in the bundle until it expires. */
  private issue(existing: V1Secret | undefined, previousCa?: string): Stored {
    const now = this.opts.clock.now();
    const ca = issueCa(
      `startup-lock injector CA ${this.opts.namespace}/${this.opts.webhookName}`,
      now,
      this.opts.caValidityMs,
    );
    const serving = issueServing(ca, this.opts.dnsNames, now, this.opts.certValidityMs);
    const keep = previousCa !== undefined && expiresAt(previousCa) > now ? previousCa : '';
    return this.toStored(existing, ca, ca.certPem + keep, serving);
  }

  private toStored(existing: V1Secret | undefined, ca: KeyPair, caBundle: string, serving: KeyPair): Stored {
    const secret: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        ...(existing?.metadata ?? {}),
        name: this.opts.secretName,
        namespace: this.opts.namespace,
        labels: {
          ...(existing?.metadata?.labels ?? {}),
          'app.kubernetes.io/component': 'injector',
          'app.kubernetes.io/managed-by': 'startup-lock-inject',
        },
      },
      // A Secret created beforehand (e.g. `kubectl create secret generic`) keeps its type: it is immutable.
      type: existing?.type ?? 'kubernetes.io/tls',
      data: {
        [KEYS.caCert]: b64(caBundle),
        [KEYS.caKey]: b64(ca.keyPem),
        [KEYS.cert]: b64(serving.certPem),
        [KEYS.key]: b64(serving.keyPem),
      },
    };
    return { secret, ca, caBundle, serving };
  }

  /** Patch every webhook's caBundle in our configuration when it differs; returns the trusted bundle. */
  private async ensureCaBundle(caBundle: string): Promise<string> {
    const name = this.opts.webhookName;
    let config;
    try {
      config = await this.admission.readMutatingWebhookConfiguration(
        { name },
        requestTimeout(API_TIMEOUT_MS),
      );
    } catch (err) {
      if (statusOf(err) === 404)
        throw new Error(`MutatingWebhookConfiguration ${name} not found (--webhook-name)`);
      throw classifyApiError(
        err,
        this.call('get', 'mutatingwebhookconfigurations.admissionregistration.k8s.io', name),
      );
    }
    const want = b64(caBundle);
    const webhooks = config.webhooks ?? [];
    if (webhooks.length === 0) throw new Error(`MutatingWebhookConfiguration ${name} has no webhooks`);
    const ops = webhooks.flatMap((w, i) =>
      w.clientConfig.caBundle === want
        ? []
        : [{ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want }],
    );
    if (ops.length === 0) return caBundle;
    // The test pins the list to the version read: a concurrent edit that reorders webhooks is a 409/422, retried next round.
    const body = [
      { op: 'test', path: '/metadata/resourceVersion', value: config.metadata?.resourceVersion },
      ...ops,
    ];
    try {
      const patched = await this.admission.patchMutatingWebhookConfiguration(
        { name, body },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch, requestTimeout(API_TIMEOUT_MS)),
      );
      this.opts.log.info({ webhook: name, webhooks: ops.length }, 'patched the caBundle');
      return unb64(patched.webhooks?.[0]?.clientConfig.caBundle);
    } catch (err) {
      throw classifyApiError(
        err,
        this.call('patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io', name),
      );
    }
  }
}
