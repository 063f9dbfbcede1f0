// What `npm run release` keeps in step and publishes with the charts: one version (package.json) in
// every chart file, Artifact Hub annotations and repository metadata, the CHANGELOG's entries.
// (test/container/release.test.ts runs the release itself into a real registry.)
import { expect } from 'chai';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { changelogEntries, syncVersions, versionMismatches } from '../../scripts/release/charts.js';
import { chartDir, libraryChartDir, repoRoot } from './helm.js';

interface ChartMeta {
  version: string;
  appVersion: string;
  dependencies?: { name: string; version: string }[];
  annotations?: Record<string, string>;
}
const readChart = (dir: string) => parse(readFileSync(path.join(dir, 'Chart.yaml'), 'utf8')) as ChartMeta;
const packageVersion = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;

describe('release metadata: versions in step, Artifact Hub annotations', function () {
  it("the main and library charts' version and appVersion agree with package.json", async function () {
    const main = readChart(chartDir);
    const library = readChart(libraryChartDir);
    expect([main.version, main.appVersion, library.version, library.appVersion]).to.deep.equal(
      Array(4).fill(packageVersion),
    );
    expect(main.dependencies?.find((d) => d.name === 'startup-lock-client')?.version).to.equal(packageVersion);
    // Also the library's written-out default tag and the example's dependency (one list in charts.ts).
    expect(await versionMismatches(repoRoot, packageVersion)).to.deep.equal([]);
  });

  it('the release writes a new version into every place that carries one, and nothing else', async function () {
    const copy = mkdtempSync(path.join(tmpdir(), 'startup-lock-sync-'));
    try {
      for (const dir of ['chart', 'examples/app-chart']) {
        cpSync(path.join(repoRoot, dir), path.join(copy, dir), { recursive: true });
      }
      const changed = await syncVersions(copy, '2.3.4-rc.1');
      expect(changed).to.have.members([
        'chart/Chart.yaml',
        'chart/charts/startup-lock-client/Chart.yaml',
        'chart/charts/startup-lock-client/templates/_initcontainer.tpl',
        'examples/app-chart/Chart.yaml',
      ]);
      expect(await versionMismatches(copy, '2.3.4-rc.1')).to.deep.equal([]);
      expect(readChart(path.join(copy, 'chart/charts/startup-lock-client')).appVersion).to.equal('2.3.4-rc.1');
      expect(await syncVersions(copy, '2.3.4-rc.1')).to.deep.equal([]);
      await syncVersions(copy, 'v2').then(
        () => expect.fail('a non-semver version must be refused'),
        (err: Error) => expect(err.message).to.match(/not a semantic version/),
      );
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('carries Artifact Hub annotations: licence, category, links, and the image for both platforms', function () {
    for (const dir of [chartDir, libraryChartDir]) {
      const annotations = readChart(dir).annotations ?? {};
      expect(annotations['artifacthub.io/license']).to.equal('MIT');
      expect(annotations['artifacthub.io/category']).to.equal('integration-delivery');
      const links = parse(annotations['artifacthub.io/links'] ?? '') as { name: string; url: string }[];
      expect(links.length).to.be.greaterThan(0);
      for (const link of links) expect(link.url).to.match(/^https:\/\//);
    }
    const images = parse(readChart(chartDir).annotations?.['artifacthub.io/images'] ?? '') as {
      name: string;
      image: string;
      platforms: string[];
    }[];
    expect(images).to.deep.equal([
      {
        name: 'startup-lock',
        image: `ghcr.io/startup-lock/startup-lock:${packageVersion}`,
        platforms: ['linux/amd64', 'linux/arm64'],
      },
    ]);
    // The chart's default image is the one the release pushes to ghcr.io/startup-lock.
    const values = parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as {
      image: { repository: string; tag: string };
    };
    expect(values.image.repository).to.equal('ghcr.io/startup-lock/startup-lock');
    expect(values.image.tag).to.equal('');
  });

  it('has an artifacthub-repo.yml the release pushes beside the charts', function () {
    const meta = parse(readFileSync(path.join(repoRoot, 'artifacthub-repo.yml'), 'utf8')) as Record<string, unknown>;
    expect(meta).to.be.an('object');
    expect(Object.keys(meta)).to.satisfy((keys: string[]) =>
      keys.every((k) => ['repositoryID', 'owners', 'ignore'].includes(k)),
    );
  });

  it("turns the CHANGELOG's section for the version (or Unreleased) into artifacthub.io/changes entries", function () {
    const changelog = [
      '# Changelog',
      '## [Unreleased]',
      '### Added',
      '- one thing,',
      '  over two lines',
      '- another',
      '### Changed (compared with the original)',
      '- a change',
      '## [0.0.1] - 2026-01-01',
      '### Fixed',
      '- an old fix',
      '',
    ].join('\n');
    expect(changelogEntries(changelog, '9.9.9')).to.deep.equal({
      section: 'Unreleased',
      changes: [
        { kind: 'added', description: 'one thing, over two lines' },
        { kind: 'added', description: 'another' },
        { kind: 'changed', description: 'a change' },
      ],
    });
    expect(changelogEntries(changelog, '0.0.1').changes).to.deep.equal([{ kind: 'fixed', description: 'an old fix' }]);
    const real = changelogEntries(readFileSync(path.join(repoRoot, 'CHANGELOG.md'), 'utf8'), packageVersion);
    expect(real.changes.length).to.be.greaterThan(0);
  });
});
