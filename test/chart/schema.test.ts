// values.schema.json: every bad value is refused by helm before anything renders, with the key named.
import { expect } from 'chai';
import { renderRaw, requireHelm, type HelmResult } from './helm.js';

interface BadCase {
  title: string;
  values: Record<string, unknown>;
  /** The JSON pointer helm reports for the offending key. */
  key: string;
}

const badCases: BadCase[] = [
  { title: 'a negative lock count', values: { locks: -1 }, key: '/locks' },
  { title: 'zero locks', values: { locks: 0 }, key: '/locks' },
  { title: 'a fractional lock count', values: { locks: 1.5 }, key: '/locks' },
  { title: 'a lock count given as text', values: { locks: 'two' }, key: '/locks' },
  { title: 'a negative locksPerCore', values: { locksPerCore: -0.5 }, key: '/locksPerCore' },
  { title: 'a negative maxQueue', values: { maxQueue: -5 }, key: '/maxQueue' },
  { title: 'maxConnections below 16', values: { maxConnections: 8 }, key: '/maxConnections' },
  { title: 'a negative maxLoad', values: { maxLoad: -1 }, key: '/maxLoad' },
  { title: 'a duration in words', values: { timeout: 'ten seconds' }, key: '/timeout' },
  { title: 'a negative duration', values: { maxDuration: '-1s' }, key: '/maxDuration' },
  { title: 'a duration with an unknown unit', values: { failHc: '10d' }, key: '/failHc' },
  { title: 'a duration with a space', values: { shutdownTimeout: '10 s' }, key: '/shutdownTimeout' },
  { title: 'a negative integer duration', values: { passHc: -60 }, key: '/passHc' },
  { title: 'a bad k8sHealth duration', values: { k8sHealth: { failHc: 'soon' } }, key: '/k8sHealth/failHc' },
  { title: 'a check with an unsupported scheme', values: { checks: ['ftp://db:21'] }, key: '/checks/0' },
  { title: 'a tcp check without a port', values: { checks: ['tcp://db'] }, key: '/checks/0' },
  { title: 'a check without a scheme', values: { checks: ['db:5432'] }, key: '/checks/0' },
  { title: 'a check URL with spaces', values: { checks: ['http://db /health'] }, key: '/checks/0' },
  { title: 'checks given as one string', values: { checks: 'http://db/health' }, key: '/checks' },
  { title: 'port 0', values: { port: 0 }, key: '/port' },
  { title: 'a port above 65535', values: { port: 70000 }, key: '/port' },
  { title: 'a port given as a name', values: { port: 'http' }, key: '/port' },
  { title: 'a negative hostPort', values: { hostPort: -1 }, key: '/hostPort' },
  { title: 'a k8sHealth port above 65535', values: { k8sHealth: { port: 99999 } }, key: '/k8sHealth/port' },
  { title: 'hostNetwork as a string', values: { hostNetwork: 'yes' }, key: '/hostNetwork' },
  { title: 'releaseOnReady as a string', values: { releaseOnReady: 'true' }, key: '/releaseOnReady' },
  { title: 'a readyProbeInterval that is not a duration', values: { readyProbeInterval: 'fast' }, key: '/readyProbeInterval' },
  { title: 'a readyProbeInterval above a minute', values: { readyProbeInterval: '5m' }, key: '/readyProbeInterval' },
  { title: 'a readyProbeInterval above a minute in ms', values: { readyProbeInterval: '60001ms' }, key: '/readyProbeInterval' },
  { title: 'an unleasedMax of 0', values: { unleasedMax: '0s' }, key: '/unleasedMax' },
  { title: 'an unleasedMax above an hour', values: { unleasedMax: '61m' }, key: '/unleasedMax' },
  { title: 'an excluded namespace that is not a DNS label', values: { unleasedExcludeNamespaces: ['Kube_System'] }, key: '/unleasedExcludeNamespaces/0' },
  { title: 'an excluded label without a value', values: { unleasedExcludeLabels: ['tier'] }, key: '/unleasedExcludeLabels/0' },
  { title: 'countUnleased as a string', values: { countUnleased: 'yes' }, key: '/countUnleased' },
  { title: 'an unknown pull policy', values: { image: { pullPolicy: 'Sometimes' } }, key: '/image/pullPolicy' },
  { title: 'a digest that is not sha256', values: { image: { digest: 'latest' } }, key: '/image/digest' },
  { title: 'an unknown log level', values: { logLevel: 'verbose' }, key: '/logLevel' },
  { title: 'a k8sHealth selector without a colon', values: { k8sHealth: { include: ['tier'] } }, key: '/k8sHealth/include/0' },
  { title: 'a k8sHealth selector without a value', values: { k8sHealth: { exclude: ['tier:'] } }, key: '/k8sHealth/exclude/0' },
  { title: 'more locks than the server allows', values: { locks: 1001 }, key: '/locks' },
  { title: 'a Secret name that is not a DNS name', values: { tokenSecret: 'Lock_Token' }, key: '/tokenSecret' },
  { title: 'a relative stateFile hostPath', values: { stateFile: { hostPath: 'var/lib/lock' } }, key: '/stateFile/hostPath' },
  { title: 'a negative preStop sleep', values: { preStop: { sleepSeconds: -1 } }, key: '/preStop/sleepSeconds' },
  { title: 'a zero probe period', values: { readinessProbe: { periodSeconds: 0 } }, key: '/readinessProbe/periodSeconds' },
  { title: 'an unknown update strategy', values: { updateStrategy: { type: 'Recreate' } }, key: '/updateStrategy/type' },
  { title: 'a malformed scrape interval', values: { metrics: { serviceMonitor: { interval: '30 seconds' } } }, key: '/metrics/serviceMonitor/interval' },
  { title: 'an extraEnv value that is not a string', values: { extraEnv: [{ name: 'A', value: 1 }] }, key: '/extraEnv/0/value' },
  { title: 'injector.enabled as a string', values: { injector: { enabled: 'yes' } }, key: '/injector/enabled' },
  { title: 'zero injector replicas', values: { injector: { replicas: 0 } }, key: '/injector/replicas' },
  { title: 'a webhook timeout above 30 s', values: { injector: { timeoutSeconds: 31 } }, key: '/injector/timeoutSeconds' },
  { title: 'an injector port above 65535', values: { injector: { port: 70000 } }, key: '/injector/port' },
  { title: 'an injected duration that is not whole seconds', values: { injector: { client: { duration: '500ms' } } }, key: '/injector/client/duration' },
  { title: 'a queueGrace above its 10m bound', values: { queueGrace: '11m' }, key: '/queueGrace' },
  { title: 'a queueGrace above its bound in ms', values: { queueGrace: '600001ms' }, key: '/queueGrace' },
  { title: 'a timeout below its 1s bound', values: { timeout: '999ms' }, key: '/timeout' },
  { title: 'a timeout of 0 seconds', values: { timeout: 0 }, key: '/timeout' },
  { title: 'a duration with decimals', values: { queueGrace: '1.5s' }, key: '/queueGrace' },
  { title: 'a negative runAsUser for the injected client', values: { injector: { client: { runAsUser: -1 } } }, key: '/injector/client/runAsUser' },
  { title: 'an unknown issuer kind', values: { injector: { certManager: { issuerRef: { name: 'ca', kind: 'Vault' } } } }, key: '/injector/certManager/issuerRef/kind' },
  { title: 'a misspelt injector key', values: { injector: { replica: 2 } }, key: "'replica'" },
  { title: 'a misspelt top-level key', values: { lock: 2 }, key: "'lock'" },
  { title: 'a misspelt nested key', values: { k8sHealth: { enable: true } }, key: "'enable'" },
];

const goodValues: Record<string, unknown> = {
  timeout: 15,
  maxDuration: '10m',
  checkTimeout: '500ms',
  queueGrace: '10m',
  maxWait: '600000ms',
  readyProbeInterval: 60,
  checks: [
    'http://127.0.0.1:10248/healthz',
    'https://api.example.com',
    'http://[::1]:9999/',
    'tcp://db.default.svc:5432',
    'tcp://[fd00::1]:5432',
  ],
  locksPerCore: 0.25,
  maxLoad: 0,
  tokenSecret: 'lock-token',
  k8sHealth: { include: ['startup-lock/gate:true'], exclude: ['tier:batch'] },
  image: { tag: 1.2, digest: `sha256:${'0'.repeat(64)}` },
};

describe('chart: values.schema.json', function () {
  const results = new Map<string, Promise<HelmResult>>();

  before(function () {
    requireHelm(this);
    // One helm run per case, all started together; each test awaits its own.
    for (const c of badCases) results.set(c.title, renderRaw({ values: c.values }));
    results.set('good', renderRaw({ values: goodValues }));
  });

  for (const c of badCases) {
    it(`rejects ${c.title}`, async function () {
      const result = await results.get(c.title);
      expect(result?.code, 'helm template should fail').to.not.equal(0);
      expect(result?.stderr).to.include("values don't meet the specifications of the schema");
      expect(result?.stderr).to.include(c.key);
    });
  }

  it('accepts integer seconds, every duration unit, IPv6 and https checks and pinned digests', async function () {
    const result = await results.get('good');
    expect(result?.code, result?.stderr).to.equal(0);
  });
});
