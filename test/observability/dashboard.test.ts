// The Grafana dashboard: the committed JSON is exactly what scripts/dashboard.ts generates, every
// panel is documented, and every query parses as PromQL, reads only series the server exports and
// honours the job/node variables. (Live data: e2e.test.ts.)
import { readFileSync } from 'node:fs';

import { expect } from 'chai';

import { buildDashboard, DASHBOARD_FILE, renderDashboard } from '../../scripts/dashboard.js';
import { promisedSeries } from './helpers/exposition.js';
import { grafanaVariables, parsePromQL, substituteGrafana } from './helpers/promql.js';
import { panelQueries, variableSelectors } from './helpers/sources.js';

interface Panel {
  type: string;
  title?: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: { expr?: string; refId?: string; datasource?: { type?: string; uid?: string } }[];
}

const committed: unknown = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8'));
const panels = ((committed as { panels?: Panel[] }).panels ?? []).filter((panel) => panel.type !== 'row');
const queries = panelQueries(committed);
const concrete = { rateInterval: '1m', job: '.*', node: '.*' };

describe('Grafana dashboard', () => {
  it('is up to date with scripts/dashboard.ts (regenerate: tsx scripts/dashboard.ts)', () => {
    expect(readFileSync(DASHBOARD_FILE, 'utf8')).to.equal(renderDashboard());
  });

  it('has the panels operators need', () => {
    expect(panels.map((panel) => panel.title)).to.include.members([
      'Slots vs leases active',
      'Queue length',
      'Queue wait',
      'Grants by API',
      'Denials by reason',
      'Releases by reason',
      'Lease hold time',
      'Expiry share',
      'Dependency check status',
      'Dependency check latency',
      'Process memory',
      'Event-loop lag',
    ]);
  });

  it('has a Prometheus datasource variable and job and node (instance) variables', () => {
    const list = buildDashboard().templating?.list ?? [];
    const byName = new Map(list.map((variable) => [variable.name, variable]));
    expect(byName.get('datasource')).to.include({ type: 'datasource', query: 'prometheus' });
    expect(byName.get('job')).to.include({ type: 'query', includeAll: true, allValue: '.*' });
    expect(byName.get('node')).to.include({ type: 'query', includeAll: true, allValue: '.*' });
    const selectors = variableSelectors(committed);
    expect(selectors.find((s) => s.variable === 'node')?.label).to.equal('instance');
    expect(selectors.find((s) => s.variable === 'job')?.label).to.equal('job');
  });

  for (const panel of panels) {
    describe(`panel "${panel.title}"`, () => {
      it('has a description, a unit and the datasource variable on the panel and every query', () => {
        expect(panel.description, 'description').to.be.a('string').with.length.above(20);
        expect(panel.fieldConfig?.defaults?.unit, 'unit').to.be.a('string').with.length.above(0);
        expect(panel.datasource).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
        expect(panel.targets, 'targets').to.have.length.above(0);
        for (const target of panel.targets ?? []) {
          expect(target.datasource).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
        }
        const refIds = (panel.targets ?? []).map((target) => target.refId);
        expect(new Set(refIds).size, `unique refIds ${refIds.join(',')}`).to.equal(refIds.length);
        for (const refId of refIds) expect(refId, 'refId').to.match(/^[A-Z]$/);
      });
    });
  }

  describe('every panel query', () => {
    const known = promisedSeries();
    for (const query of queries) {
      it(`${query.panel} / ${query.legend}: parses and reads exported series filtered by job and node`, () => {
        for (const variable of grafanaVariables(query.expr)) {
          expect(['__rate_interval', 'job', 'node'], query.expr).to.include(variable);
        }
        const parsed = parsePromQL(substituteGrafana(query.expr, concrete));
        expect(parsed.errors, query.expr).to.deep.equal([]);
        expect(parsed.selectors, query.expr).to.have.length.above(0);
        for (const selector of parsed.selectors) {
          expect(known.has(selector.metric ?? ''), `${selector.metric} is exported`).to.equal(true);
          // Parsed after substitution, so check the raw text for the variables themselves.
          expect(selector.matchers.get('job'), `${selector.metric} job filter`).to.equal('=~".*"');
          expect(selector.matchers.get('instance'), `${selector.metric} node filter`).to.equal('=~".*"');
        }
        expect(query.expr.split('job=~"$job", instance=~"$node"').length - 1).to.equal(
          parsed.selectors.length,
        );
      });
    }
  });

  it('variable queries select exported series', () => {
    for (const { variable, selector } of variableSelectors(committed)) {
      const parsed = parsePromQL(substituteGrafana(selector, concrete));
      expect(parsed.errors, variable).to.deep.equal([]);
      for (const s of parsed.selectors) expect(promisedSeries().has(s.metric ?? ''), variable).to.equal(true);
    }
  });
});
