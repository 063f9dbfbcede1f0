// The alert rules (chart/files/prometheus-rules.yaml) as Prometheus sees them: promtool validates
// them and runs rules.test.yaml, which fires and silences every alert on synthetic series.
import { readFileSync } from 'node:fs';

import { expect } from 'chai';
import { parse } from 'yaml';

import { injectorSeries, promisedSeries, SCRAPE_SERIES } from './helpers/exposition.js';
import { parsePromQL } from './helpers/promql.js';
import { run } from './helpers/run.js';
import { alertRules } from './helpers/sources.js';
import { requireTool, RULES_FILE, RULES_TEST_FILE, RUNBOOK_FILE } from './helpers/tools.js';

const RUNBOOK_URL = 'https://github.com/startup-lock/startup-lock/blob/main/docs/runbook.md#';

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
}

describe('alert rules', () => {
  const rules = alertRules();

  it('defines the five alert kinds the product promises', () => {
    expect(rules.map((rule) => rule.alert)).to.include.members([
      'StartupLockDown',
      'StartupLockAbsent',
      'StartupLockQueueStuck',
      'StartupLockCheckDown',
      'StartupLockLeasesExpiring',
      'StartupLockQueueWaitHigh',
      'StartupLockSlotsTakenByUnleased',
      'StartupLockInjectionsFailing',
      'StartupLockInjectorNotReady',
    ]);
  });

  it('passes promtool check rules', async function () {
    const promtool = requireTool(this, 'promtool');
    const result = await run(promtool, ['check', 'rules', RULES_FILE]);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.include(`SUCCESS: ${rules.length} rules found`);
  });

  it('passes promtool test rules (each alert fires and stays quiet on synthetic series)', async function () {
    this.timeout(60_000);
    const promtool = requireTool(this, 'promtool');
    const result = await run(promtool, ['test', 'rules', RULES_TEST_FILE], { timeoutMs: 55_000 });
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.include('SUCCESS');
  });

  it('has unit tests in which every alert both fires and stays quiet', () => {
    interface UnitTests {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    }
    const doc = parse(readFileSync(RULES_TEST_FILE, 'utf8')) as UnitTests;
    const cases = doc.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const rule of rules) {
      const mine = cases.filter((c) => c.alertname === rule.alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${rule.alert} fires somewhere`,
      ).to.equal(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${rule.alert} stays quiet somewhere`,
      ).to.equal(true);
    }
  });

  for (const rule of rules) {
    describe(rule.alert, () => {
      it('has a for: duration, a severity, a summary, a description and a runbook link', () => {
        expect(rule.for, 'for').to.match(/^\d+[smh]$/);
        expect(rule.labels?.severity, 'severity').to.be.oneOf(['warning', 'critical']);
        expect(rule.annotations?.summary, 'summary').to.be.a('string').with.length.above(0);
        expect(rule.annotations?.description, 'description').to.be.a('string').with.length.above(0);
        expect(rule.annotations?.runbook_url, 'runbook_url').to.equal(RUNBOOK_URL + rule.alert.toLowerCase());
      });

      it('has a runbook section in docs/runbook.md', () => {
        const headings = readFileSync(RUNBOOK_FILE, 'utf8')
          .split('\n')
          .filter((line) => /^#{2,3} /.test(line))
          .map((line) => anchor(line.replace(/^#+ /, '')));
        expect(headings).to.include(rule.alert.toLowerCase());
      });

      it('parses as PromQL and reads only series the server exports', () => {
        const parsed = parsePromQL(rule.expr);
        expect(parsed.errors, rule.expr).to.deep.equal([]);
        expect(parsed.selectors, 'reads some series').to.have.length.above(0);
        const known = new Set([...promisedSeries(), ...injectorSeries()]);
        for (const selector of parsed.selectors) {
          expect(selector.metric, rule.expr).to.be.a('string');
          const name = selector.metric ?? '';
          expect(known.has(name) || SCRAPE_SERIES.has(name), `${name} in ${rule.alert}`).to.equal(true);
        }
      });

      it('selects only startup-lock scrape jobs', () => {
        for (const selector of parsePromQL(rule.expr).selectors) {
          expect(selector.matchers.get('job'), `${selector.metric} in ${rule.alert}`).to.equal(
            '=~".*startup-lock.*"',
          );
        }
      });
    });
  }
});
