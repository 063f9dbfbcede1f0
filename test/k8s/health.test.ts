// `startup-lock health` as a real process against the fake API: 412 until every DaemonSet that belongs on
// the node has its pod here Running and Ready, then 200; placement, skips and filters; node changes
// re-evaluated; API failures reported as 412 with the reason, never a crash.
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { fakeApiPerTest } from '../support/fake-api-suite.js';
import { FakeKubeApi, type JsonObject } from '../support/fake-kube-api.js';
import { readyStatus } from '../support/kube-pods.js';
import { startProcess, type Proc } from '../support/processes.js';

const DIST = fileURLToPath(new URL('../../dist/health/daemonset-health.js', import.meta.url));
const NODE = 'node-1';
const SYS = 'kube-system';

interface Health extends Proc {
  url: string;
  /** Resolves at the next verdict line (`health: OK` / `health: failing`) after `after` lines. */
  verdict(ok: boolean, reason?: RegExp): Promise<Record<string, unknown>>;
}

function daemonSet(
  name: string,
  podSpec: JsonObject = {},
  labels: Record<string, string> = {},
  ns = SYS,
): JsonObject {
  return {
    metadata: { namespace: ns, name, labels },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'i' }], ...podSpec },
      },
    },
    // Cluster-wide counters claiming all is well: health must not trust them.
    status: { desiredNumberScheduled: 3, numberReady: 3, numberAvailable: 3 },
  };
}

/** A pod of DaemonSet `ds` (created in the fake) on `node`. */
function dsPod(ds: JsonObject, suffix: string, node = NODE, ready = false): JsonObject {
  const meta = ds.metadata as { namespace: string; name: string; uid: string };
  return {
    metadata: {
      namespace: meta.namespace,
      name: `${meta.name}-${suffix}`,
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'DaemonSet', name: meta.name, uid: meta.uid, controller: true },
      ],
    },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }] },
    ...(ready ? readyStatus(true) : { status: { phase: 'Pending' } }),
  };
}

async function get(h: Health, path = '/'): Promise<{ status: number; body: string }> {
  const res = await fetch(`${h.url}${path}`);
  return { status: res.status, body: await res.text() };
}

describe('startup-lock health (real process, fake API)', function () {
  this.timeout(30_000);
  let api: FakeKubeApi;
  let kubeconfig: string;

  fakeApiPerTest(DIST, (fake, path) => {
    api = fake;
    kubeconfig = path;
    api.create('nodes', { metadata: { name: NODE, labels: { 'kubernetes.io/os': 'linux' } }, spec: {} });
    api.create('nodes', { metadata: { name: 'node-2', labels: {} }, spec: {} });
  });

  async function health(extra: string[] = []): Promise<Health> {
    const p = startProcess([
      'health',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--node-name',
      NODE,
      '--kubeconfig',
      kubeconfig,
      ...extra,
    ]);
    const ready = await p.waitForLog((l) => l.msg === 'startup-lock health ready');
    let seen = 0;
    const verdicts = () => p.logs().filter((x) => x.msg === 'health: OK' || x.msg === 'health: failing');
    const verdict = async (ok: boolean, reason?: RegExp) => {
      const from = seen;
      const matches = (x: Record<string, unknown>) =>
        (x.msg === 'health: OK') === ok && (!reason || reason.test(String(x.reason)));
      await p.waitForLog(() => verdicts().slice(from).some(matches));
      const all = verdicts();
      seen = all.length;
      return all.slice(from).find(matches) as Record<string, unknown>;
    };
    return { ...p, url: `http://127.0.0.1:${ready.port as number}`, verdict };
  }

  it("turns from 412 to 200 as this node's DaemonSet pods become Running and Ready", async () => {
    const proxy = api.create('daemonsets.apps', daemonSet('kube-proxy'));
    const cni = api.create('daemonsets.apps', daemonSet('cni'));
    api.create('pods', dsPod(proxy, 'a', NODE, true));
    api.create('pods', dsPod(cni, 'b', NODE, false));
    // Ready pods of the same DaemonSet on other nodes do not count here.
    api.create('pods', dsPod(cni, 'c', 'node-2', true));
    const h = await health();
    await h.verdict(false, /cni/);
    expect(await get(h)).to.deep.equal({
      status: 412,
      body: 'HealthCheck Failed: DaemonSet kube-system/cni: pod kube-system/cni-b is Pending',
    });
    api.patch('pods', SYS, 'cni-b', readyStatus(false));
    await h.verdict(false, /cni-b is Running, not Ready/);
    api.patch('pods', SYS, 'cni-b', readyStatus(true));
    await h.verdict(true);
    expect(await get(h)).to.deep.equal({ status: 200, body: 'HealthCheck OK' });
    const status = JSON.parse((await get(h, '/status')).body) as {
      healthy: boolean;
      daemonSets: JsonObject[];
    };
    expect(status.healthy).to.equal(true);
    expect(status.daemonSets).to.deep.include({
      namespace: SYS,
      name: 'cni',
      belongs: true,
      pod: `${SYS}/cni-b`,
      phase: 'Running',
      ready: true,
      failing: false,
    });
    expect((await get(h, '/healthz')).status).to.equal(200);
    expect((await get(h, '/readyz')).status).to.equal(200);
  });

  it('waits for a DaemonSet whose pod has not reached this node yet', async () => {
    const ds = api.create('daemonsets.apps', daemonSet('logs'));
    const h = await health();
    await h.verdict(false);
    expect(await get(h)).to.deep.equal({
      status: 412,
      body: 'HealthCheck Failed: DaemonSet kube-system/logs: no pod on this node yet',
    });
    // A pod with the DaemonSet's name but another owner does not count.
    api.create('pods', { ...dsPod(ds, 'fake', NODE, true), metadata: { namespace: SYS, name: 'logs-fake' } });
    api.create('pods', dsPod(ds, 'x', NODE, true));
    await h.verdict(true);
    expect((await get(h)).status).to.equal(200);
  });

  it('ignores DaemonSets kept off the node by nodeSelector, affinity or taints, the skip label and its own', async () => {
    api.update('nodes', {
      metadata: { name: NODE, labels: { 'kubernetes.io/os': 'linux' } },
      spec: { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] },
    });
    api.create('daemonsets.apps', daemonSet('windows', { nodeSelector: { 'kubernetes.io/os': 'windows' } }));
    api.create(
      'daemonsets.apps',
      daemonSet('gpu-only', {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }],
            },
          },
        },
      }),
    );
    api.create('daemonsets.apps', daemonSet('intolerant'));
    api.create(
      'daemonsets.apps',
      daemonSet(
        'opted-out',
        { tolerations: [{ operator: 'Exists' }] },
        { 'startup-lock/skip-health': 'true' },
      ),
    );
    api.create(
      'daemonsets.apps',
      daemonSet('startup-lock', { tolerations: [{ operator: 'Exists' }] }, {}, 'startup-lock'),
    );
    const tolerant = api.create(
      'daemonsets.apps',
      daemonSet('tolerant', { tolerations: [{ key: 'dedicated', operator: 'Exists' }] }),
    );
    const h = await health(['--self-name', 'startup-lock', '--self-namespace', 'startup-lock']);
    await h.verdict(false, /^DaemonSet kube-system\/tolerant: no pod on this node yet$/);
    api.create('pods', dsPod(tolerant, 'x', NODE, true));
    await h.verdict(true, /1 DaemonSet/);
    const status = JSON.parse((await get(h, '/status')).body) as { daemonSets: Record<string, unknown>[] };
    const by = (name: string) => status.daemonSets.find((d) => d.name === name);
    expect(by('windows')).to.deep.include({
      belongs: false,
      why: 'nodeSelector kubernetes.io/os=windows: the node has kubernetes.io/os=linux',
    });
    expect(by('gpu-only')).to.deep.include({ belongs: false });
    expect(by('intolerant')).to.deep.include({
      belongs: false,
      why: 'taint dedicated=db:NoSchedule is not tolerated',
    });
    expect(by('opted-out')).to.deep.include({ skipped: 'skip-label' });
    expect(by('startup-lock')).to.deep.include({ skipped: 'self' });
  });

  it('re-evaluates when the node gains a label or a taint', async () => {
    api.create('daemonsets.apps', daemonSet('ssd-cache', { nodeSelector: { disk: 'ssd' } }));
    const h = await health();
    await h.verdict(true);
    api.patch('nodes', undefined, NODE, { metadata: { labels: { disk: 'ssd' } } });
    await h.verdict(false, /ssd-cache: no pod on this node yet/);
    expect((await get(h)).status).to.equal(412);
    api.patch('nodes', undefined, NODE, { spec: { taints: [{ key: 'maintenance', effect: 'NoExecute' }] } });
    await h.verdict(true);
    expect((await get(h)).status).to.equal(200);
  });

  it('narrows the DaemonSets with --namespace, --hostNet and --in / --ex', async () => {
    api.create('daemonsets.apps', daemonSet('net', { hostNetwork: true }, { tier: 'node' }));
    api.create('daemonsets.apps', daemonSet('plain', {}, { tier: 'app' }));
    api.create(
      'daemonsets.apps',
      daemonSet('other-ns', { hostNetwork: true }, { tier: 'node' }, 'monitoring'),
    );
    const failingSet = async (args: string[]) => {
      const h = await health(args);
      await h.verdict(false);
      const status = JSON.parse((await get(h, '/status')).body) as {
        daemonSets: { name: string; failing: boolean }[];
      };
      return status.daemonSets.filter((d) => d.failing).map((d) => d.name);
    };
    expect(await failingSet([])).to.deep.equal(['net', 'plain', 'other-ns']);
    expect(await failingSet(['--namespace', SYS])).to.deep.equal(['net', 'plain']);
    expect(await failingSet(['--hostNet'])).to.deep.equal(['net', 'other-ns']);
    expect(await failingSet(['--in', 'tier:app'])).to.deep.equal(['plain']);
    expect(await failingSet(['--ex', 'tier:app'])).to.deep.equal(['net', 'other-ns']);
  });

  it('refuses --in together with --ex, and a missing node name (exit 2)', async () => {
    const both = startProcess([
      'health',
      '--node-name',
      NODE,
      '--kubeconfig',
      kubeconfig,
      '--in',
      'a:b',
      '--ex',
      'c:d',
    ]);
    expect((await both.exited).code).to.equal(2);
    expect(both.output()).to.match(/--in and --ex/);
    const noNode = startProcess(['health', '--kubeconfig', kubeconfig], { NODE_NAME: '' });
    expect((await noNode.exited).code).to.equal(2);
    expect(noNode.output()).to.match(/--node-name/);
  });

  it('stops with one line and exit 1 when its port is taken, as the server does', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const { port } = taken.address() as AddressInfo;
    try {
      const p = startProcess([
        'health',
        '--node-name',
        NODE,
        '--kubeconfig',
        kubeconfig,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ]);
      expect(await p.exitCode).to.equal(1);
      expect(p.stderr()).to.equal(`startup-lock health: cannot listen on 127.0.0.1:${port}: EADDRINUSE\n`);
    } finally {
      taken.close();
    }
  });

  it('answers 412 with the API error while it is forbidden or unreachable, and recovers', async () => {
    const ds = api.create('daemonsets.apps', daemonSet('proxy'));
    api.create('pods', dsPod(ds, 'x', NODE, true));
    const forbidden = api.fail({ status: 403, verb: 'list', resource: 'daemonsets.apps' });
    const h = await health(['--failHc', '500ms', '--passHc', '500ms']);
    await h.verdict(false, /forbidden/);
    const body = (await get(h)).body;
    expect(body).to.match(
      /^HealthCheck Failed: Kubernetes API: cannot list daemonsets\.apps cluster-wide: forbidden/,
    );
    forbidden.clear();
    await h.verdict(true);
    await api.goUnreachable();
    await h.verdict(false, /Kubernetes API/);
    expect((await get(h)).status).to.equal(412);
    await api.goReachable();
    await h.verdict(true);
    expect((await get(h)).status).to.equal(200);
    expect(h.child.exitCode).to.equal(null);
  });

  it('lists everything again every --passHc (resync), besides watching', async () => {
    const ds = api.create('daemonsets.apps', daemonSet('proxy'));
    api.create('pods', dsPod(ds, 'x', NODE, true));
    const h = await health(['--passHc', '300ms']);
    await h.verdict(true);
    const lists = () =>
      api.requests.filter((r) => r.verb === 'list' && r.resource === 'daemonsets.apps').length;
    const before = lists();
    await api.waitForRequest(
      (r) => r.verb === 'list' && r.resource === 'daemonsets.apps' && lists() > before,
    );
    expect(lists()).to.be.greaterThan(before);
  });
});
