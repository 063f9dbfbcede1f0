// End to end: a real Prometheus scrapes a real startup-lock server every second while a herd of
// clients takes, releases and abandons leases and a dependency check flips between up and down, and
// (with --release-on-ready on a fake API) some holders are released by their own probes.
// Then every dashboard query runs through Prometheus' HTTP API, as Grafana would send it, and must
// return data; the alert rules must evaluate without errors on the same data.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { expect } from 'chai';

import { buildDashboard } from '../../scripts/dashboard.js';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { appPod, containersStatus, EXEC_READINESS } from '../support/kube-pods.js';
import { until } from '../support/until.js';
import { driveHerd, type HerdStats } from './helpers/herd.js';
import {
  startFlipper,
  startLockServer,
  startPrometheus,
  type Flipper,
  type LockServer,
  type Prometheus,
} from './helpers/processes.js';
import { finiteValues, labelValues, query, queryRange, rules, type Series } from './helpers/prom-api.js';
import { substituteGrafana } from './helpers/promql.js';
import { panelQueries, variableSelectors } from './helpers/sources.js';
import { requireBuiltServer, requireTool, RULES_FILE } from './helpers/tools.js';

const HERD_MS = 20_000;
const JOB = 'startup-lock';
const NODE = 'e2e-node';

/**
 * Pods whose app already runs and whose (exec) readiness probe the kubelet reports passed: each is
 * released by the server's probe as soon as it is granted, which feeds the start-to-release histogram.
 */
async function probedHolders(api: FakeKubeApi, base: string, until: number): Promise<number> {
  let released = 0;
  for (let k = 0; Date.now() < until; k++) {
    const name = `probed-${k}`;
    api.create('pods', appPod('e2e', name, NODE, [EXEC_READINESS]));
    const startedAt = new Date(Date.now() - 1500).toISOString();
    api.patch('pods', 'e2e', name, containersStatus([{ name: 'app', ready: true }], { startedAt }));
    while (Date.now() < until + 10_000) {
      const res = await fetch(`${base}/v1/leases?holder=e2e/${name}&duration=5&wait=3`, { method: 'POST' });
      await res.arrayBuffer();
      if (res.status === 200) break;
    }
    released++;
    await delay(700);
  }
  return released;
}

describe('end to end: Prometheus scraping a real server under a herd', function () {
  this.timeout(120_000);
  const dashboard = buildDashboard();
  let dir: string | undefined;
  let flipper: Flipper | undefined;
  let server: LockServer | undefined;
  let prometheus: Prometheus | undefined;
  let kube: FakeKubeApi | undefined;
  let herd: HerdStats;
  let instance = '';
  let startS = 0;
  let endS = 0;
  const results = new Map<string, Series[]>();

  before(async function () {
    requireTool(this, 'prometheus');
    requireBuiltServer(this);
    dir = await mkdtemp(join(tmpdir(), 'startup-lock-e2e-'));
    flipper = await startFlipper(3_000);
    kube = await FakeKubeApi.start();
    const kubeconfig = await kube.writeKubeconfig();
    server = await startLockServer([
      ...['--locks', '2', '--timeout', '2s', '--check', flipper.url, '--failHc', '1s', '--passHc', '1s'],
      ...['--release-on-ready', '--node-name', NODE, '--kubeconfig', kubeconfig],
    ]);
    await kube.waitForWatches('pods');
    instance = `127.0.0.1:${server.port}`;
    prometheus = await startPrometheus(dir, [instance], [RULES_FILE]);
    const prom = prometheus.url;
    // Prometheus offers no event for "scraped"; polling its API is the only way to wait for it.
    await until(async () => (await query(prom, `up{job="${JOB}"} == 1`)).length === 1, {
      what: 'the first scrape',
      timeoutMs: 20_000,
      everyMs: 250,
    });

    startS = Date.now() / 1000;
    const probed = probedHolders(kube, server.url, Date.now() + HERD_MS - 5_000);
    herd = await driveHerd(server.url, {
      v1Clients: 4,
      legacyClients: 2,
      durationMs: HERD_MS,
      legacyTailMs: 10_000,
      abandonEvery: 3,
    });
    console.log(`      holders released by their probe: ${await probed}`);
    console.log(`      herd: ${JSON.stringify(herd)}`);
    // Two more scrapes after the herd, so the last expiries are in the data too.
    const herdEndS = Date.now() / 1000;
    await until(
      async () => {
        const [sample] = await query(prom, `timestamp(startup_lock_slots{job="${JOB}"})`);
        return sample !== undefined && Number(sample.value[1]) > herdEndS + 1;
      },
      { what: 'a scrape after the herd', timeoutMs: 15_000, everyMs: 250 },
    );
    endS = Date.now() / 1000;

    const values = { rateInterval: '10s', job: JOB, node: instance };
    for (const panel of panelQueries(dashboard)) {
      const expr = substituteGrafana(panel.expr, values);
      results.set(`${panel.panel} / ${panel.legend}`, await queryRange(prom, expr, startS, endS));
    }
  });

  after(async () => {
    // Reverse order of start; each stop is bounded (SIGTERM, then SIGKILL after 5 s).
    await prometheus?.stop();
    await server?.stop();
    await flipper?.stop();
    await kube?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('drove real traffic: v1 grants, releases and abandons, legacy grants, refusals, check flips', () => {
    expect(herd.unexpected).to.deep.equal([]);
    expect(herd.v1Granted).to.be.above(10);
    expect(herd.v1Released).to.be.above(5);
    expect(herd.v1Abandoned).to.be.above(2);
    expect(herd.legacyGranted).to.be.above(0);
    expect(herd.refused).to.be.above(5);
    expect(flipper?.answers.failing).to.be.above(0);
    expect(flipper?.answers.healthy).to.be.above(0);
  });

  for (const panel of panelQueries(dashboard)) {
    const key = `${panel.panel} / ${panel.legend}`;
    it(`"${key}" returns data for the node`, () => {
      const series = results.get(key) ?? [];
      expect(series, 'series').to.have.length.above(0);
      for (const s of series) expect(s.metric.instance, 'per node').to.equal(instance);
      expect(finiteValues(series), 'finite values').to.have.length.above(0);
    });
  }

  it('shows the check both up and down, and expiries next to early releases', () => {
    const status = finiteValues(results.get('Dependency check status / {{check}} on {{instance}}') ?? []);
    expect(new Set(status)).to.deep.equal(new Set([0, 1]));
    const releases = results.get('Releases by reason / {{reason}} on {{instance}}') ?? [];
    const moving = (reason: string) =>
      finiteValues(releases.filter((s) => s.metric.reason === reason)).some((v) => v > 0);
    expect(moving('released'), 'released').to.equal(true);
    expect(moving('expired'), 'expired').to.equal(true);
    const grants = results.get('Grants by API / {{api}} on {{instance}}') ?? [];
    expect(
      new Set(grants.filter((s) => finiteValues([s]).some((v) => v > 0)).map((s) => s.metric.api)),
    ).to.deep.equal(new Set(['legacy', 'v1']));
    const share = finiteValues(results.get('Expiry share / {{instance}}') ?? []);
    expect(Math.max(...share)).to.be.within(0.01, 1);
  });

  it('lists the job and the node in the dashboard variables', async () => {
    const prom = prometheus?.url ?? '';
    for (const { variable, selector, label } of variableSelectors(dashboard)) {
      const values = await labelValues(
        prom,
        label,
        substituteGrafana(selector, { rateInterval: '10s', job: '.*', node: '.*' }),
      );
      expect(values, variable).to.include(variable === 'node' ? instance : JOB);
    }
  });

  it('evaluates every alert rule on the live data without errors', async () => {
    const states = await rules(prometheus?.url ?? '');
    expect(states.map((s) => s.name)).to.have.length.above(5);
    for (const state of states) {
      expect(state.health, `${state.name}: ${state.lastError}`).to.equal('ok');
      expect(state.lastEvaluation, state.name).to.not.match(/^0001-/);
    }
  });
});
