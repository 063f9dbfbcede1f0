// The live /metrics page of a real `startup-lock inject` (certificate from files, as with cert-manager,
// so no API server is needed): promtool is clean, every promised injector family is there with HELP,
// and so is every injector series the alert rules read.
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { makeThrowawayCa, type ThrowawayCa } from '../support/throwaway-ca.js';
import { startInjector, stopAll } from '../support/processes.js';
import { exposedSeries, injectorSeries } from './helpers/exposition.js';
import { parsePromQL } from './helpers/promql.js';
import { run } from './helpers/run.js';
import { alertRules } from './helpers/sources.js';
import { requireBuiltServer, requireTool } from './helpers/tools.js';

describe('live /metrics of a running injector', function () {
  this.timeout(30_000);
  let ca: ThrowawayCa;
  let page = '';

  before(async function () {
    requireBuiltServer(this);
    ca = makeThrowawayCa();
    writeFileSync(path.join(ca.dir, 'server.pem'), ca.certPem);
    const container = path.join(ca.dir, 'container.json');
    writeFileSync(container, JSON.stringify({ name: 'startup-lock', image: 'x', args: ['acquire'] }));
    const proc = await startInjector([
      '--namespace',
      'startup-lock',
      '--container-file',
      container,
      '--tls-cert-file',
      path.join(ca.dir, 'server.pem'),
      '--tls-key-file',
      path.join(ca.dir, 'server.key'),
    ]);
    await proc.waitForLog((l) => l.msg === 'serving certificate loaded');
    const response = await fetch(`http://127.0.0.1:${proc.healthPort}/metrics`);
    expect(response.status).to.equal(200);
    page = await response.text();
  });

  after(async () => {
    await stopAll();
    ca?.remove();
  });

  it('passes promtool check metrics', async function () {
    const promtool = requireTool(this, 'promtool');
    const result = await run(promtool, ['check', 'metrics'], { input: page });
    expect(result.code, `${result.stdout}${result.stderr}`).to.equal(0);
    expect(`${result.stdout}${result.stderr}`.trim()).to.equal('');
  });

  it('exports every injector family, with HELP text, and every injector series the alerts read', () => {
    const exposed = exposedSeries(page);
    expect([...injectorSeries()].filter((name) => !exposed.has(name))).to.deep.equal([]);
    for (const family of page.matchAll(/^# TYPE (\S+)/gm)) {
      expect(page, `HELP for ${family[1]}`).to.match(new RegExp(`^# HELP ${family[1]} \\S`, 'm'));
    }
    const read = alertRules().flatMap((rule) => parsePromQL(rule.expr).selectors.map((s) => s.metric ?? ''));
    const injector = injectorSeries();
    expect(read.filter((name) => injector.has(name) && !exposed.has(name))).to.deep.equal([]);
  });
});
