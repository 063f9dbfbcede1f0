// helm lint --strict on every chart we ship, and yamllint on the YAML we write by hand.
import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chartDir, helm, libraryChartDir, NAMESPACE, RELEASE, repoRoot, requireHelm, requireTool, run } from './helm.js';

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

// Close to chart-testing's lintconf (ct lint runs yamllint on Chart.yaml and values.yaml): long lines
// are fine (the @param descriptions), no document start marker, inline comments two spaces off.
const yamllintConfig =
  '{extends: default, rules: {line-length: disable, document-start: disable, ' +
  'braces: {max-spaces-inside: 0}, brackets: {max-spaces-inside: 0}, comments: {min-spaces-from-content: 2}, ' +
  'indentation: {spaces: consistent, indent-sequences: whatever, check-multi-line-strings: false}}}';
// Rendered output mixes our indented lists with toYaml's flush ones; everything else must be clean
// (no trailing spaces, no stray blank lines, no duplicate keys).
const renderedConfig =
  '{extends: default, rules: {line-length: disable, document-start: disable, comments: disable, ' +
  'comments-indentation: disable, indentation: {indent-sequences: whatever}}}';
const ciFiles = readdirSync(path.join(chartDir, 'ci')).filter((f) => f.endsWith('-values.yaml'));

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

    it('is clean on what every ci values file renders', async function () {
      const dir = mkdtempSync(path.join(tmpdir(), 'startup-lock-rendered-'));
      try {
        const files = await Promise.all(
          ciFiles.map(async (file) => {
            const args = ['template', RELEASE, chartDir, '-n', NAMESPACE, '-f', path.join(chartDir, 'ci', file)];
            const rendered = await helm(args);
            expect(rendered.code, rendered.stderr).to.equal(0);
            const out = path.join(dir, file);
            writeFileSync(out, rendered.stdout);
            return out;
          }),
        );
        const result = await run(yamllint, ['--strict', '-f', 'parsable', '-d', renderedConfig, ...files], repoRoot);
        expect(result.code, result.stdout + result.stderr).to.equal(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
