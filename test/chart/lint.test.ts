// helm lint --strict on every chart we ship, and yamllint on the YAML we write by hand.
import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { chartDir, helm, libraryChartDir, repoRoot, requireHelm, requireTool, run } from './helm.js';

// Templates are not plain YAML, so yamllint sees only the files people edit directly.
const handWritten = [
  'ct.yaml',
  'chart/Chart.yaml',
  'chart/values.yaml',
  ...readdirSync(path.join(chartDir, 'ci')).map((f) => `chart/ci/${f}`),
  'chart/charts/startup-lock-client/Chart.yaml',
  'chart/charts/startup-lock-client/values.yaml',
  'examples/app-chart/Chart.yaml',
  'examples/app-chart/values.yaml',
];

// Long lines are fine in values.yaml (the @param descriptions); the rest is yamllint's default.
const yamllintConfig = '{extends: default, rules: {line-length: disable, document-start: disable, comments: {min-spaces-from-content: 1}}}';

describe('chart: lint', function () {
  before(function () {
    requireHelm(this);
  });

  it('helm lint --strict passes on the main chart', async function () {
    const result = await helm(['lint', '--strict', chartDir]);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
  });

  it('helm lint --strict passes on the library chart', async function () {
    const result = await helm(['lint', '--strict', libraryChartDir]);
    expect(result.code, result.stdout + result.stderr).to.equal(0);
  });

  describe('yamllint', function () {
    let yamllint: string;
    before(function () {
      yamllint = requireTool(this, 'yamllint', 'bash scripts/ensure-helm.sh (installs yamllint with apt-get)');
    });

    it('is clean on the hand-written YAML', async function () {
      const result = await run(yamllint, ['--strict', '-f', 'parsable', '-d', yamllintConfig, ...handWritten], repoRoot);
      expect(result.code, result.stdout + result.stderr).to.equal(0);
    });
  });
});
