// The live /metrics page of a real server: promtool finds nothing to complain about, and every
// series the dashboard and the alerts read is really there (not just promised in a list).
import { expect } from 'chai';

import { buildDashboard } from '../../scripts/dashboard.js';
import { exposedSeries, injectorSeries, promisedSeries, SCRAPE_SERIES } from './helpers/exposition.js';
import { startFlipper, startLockServer, type Flipper, type LockServer } from './helpers/processes.js';
import { parsePromQL, substituteGrafana } from './helpers/promql.js';
import { run } from './helpers/run.js';
import { alertRules, panelQueries, variableSelectors } from './helpers/sources.js';
import { requireBuiltServer, requireTool } from './helpers/tools.js';

const concrete = { rateInterval: '1m', job: '.*', node: '.*' };

function seriesRead(expr: string): string[] {
  return parsePromQL(expr).selectors.map((selector) => selector.metric ?? '(no name)');
}

describe('live /metrics of a running server', function () {
  this.timeout(60_000);
  let flipper: Flipper | undefined;
  let server: LockServer | undefined;
  let page = '';

  before(async function () {
    requireBuiltServer(this);
    flipper = await startFlipper(500);
    // With a check configured, so the per-check families are registered too.
    server = await startLockServer([
      '--locks',
      '1',
      '--check',
      flipper.url,
      '--failHc',
      '1s',
      '--passHc',
      '1s',
    ]);
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).to.equal(200);
    page = await response.text();
  });

  after(async () => {
    await server?.stop();
    await flipper?.stop();
  });

  it('passes promtool check metrics', async function () {
    const promtool = requireTool(this, 'promtool');
    const result = await run(promtool, ['check', 'metrics'], { input: page });
    expect(result.code, `${result.stdout}${result.stderr}`).to.equal(0);
    expect(`${result.stdout}${result.stderr}`.trim()).to.equal('');
  });

  it('exports every series the contract promises, with HELP text', () => {
    const exposed = exposedSeries(page);
    const missing = [...promisedSeries()].filter((name) => !exposed.has(name));
    expect(missing).to.deep.equal([]);
    for (const family of page.matchAll(/^# TYPE (\S+)/gm)) {
      expect(page, `HELP for ${family[1]}`).to.match(new RegExp(`^# HELP ${family[1]} \\S`, 'm'));
    }
  });

  it('exports every series the dashboard panels and variables read', () => {
    const exposed = exposedSeries(page);
    const dashboard = buildDashboard();
    const read = [
      ...panelQueries(dashboard).flatMap((query) => seriesRead(substituteGrafana(query.expr, concrete))),
      ...variableSelectors(dashboard).flatMap((v) => seriesRead(substituteGrafana(v.selector, concrete))),
    ];
    expect(read.length).to.be.above(10);
    expect(read.filter((name) => !exposed.has(name))).to.deep.equal([]);
  });

  it('exports every series the alert rules read (besides Prometheus’ own up and the injector’s)', () => {
    const exposed = exposedSeries(page);
    const read = alertRules().flatMap((rule) => seriesRead(rule.expr));
    const injector = injectorSeries();
    expect(
      read.filter((name) => !exposed.has(name) && !SCRAPE_SERIES.has(name) && !injector.has(name)),
    ).to.deep.equal([]);
  });
});
