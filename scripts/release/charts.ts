// The charts' side of a release: every version in the repository kept in step with package.json, the
// CHANGELOG's entries as Artifact Hub "changes", and a staged copy of the charts that names the
// registry and the image digests the release is about to push.
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument, stringify } from 'yaml';

export const chartPaths = {
  main: 'chart',
  library: 'chart/charts/startup-lock-client',
  libraryTemplate: 'chart/charts/startup-lock-client/templates/_initcontainer.tpl',
  example: 'examples/app-chart',
} as const;

/** The repository the charts are published to, relative to --registry. */
export const chartsNamespace = 'charts';
export const defaultRegistry = 'ghcr.io/startup-lock';

const semver = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;

export function checkVersion(version: string): void {
  if (!semver.test(version)) throw new Error(`version "${version}" is not a semantic version (e.g. 1.2.3)`);
}

interface Edit {
  file: string;
  pattern: RegExp;
  replace: (version: string) => string;
}

// One list of every place a version is written, so sync and check cannot drift apart.
const edits: Edit[] = [
  { file: `${chartPaths.main}/Chart.yaml`, pattern: /^version: .*$/m, replace: (v) => `version: ${v}` },
  {
    file: `${chartPaths.main}/Chart.yaml`,
    pattern: /^appVersion: .*$/m,
    replace: (v) => `appVersion: "${v}"`,
  },
  {
    file: `${chartPaths.main}/Chart.yaml`,
    pattern: /^( {2}- name: startup-lock-client\n {4}version: ).*$/m,
    replace: (v) => `  - name: startup-lock-client\n    version: ${v}`,
  },
  {
    file: `${chartPaths.main}/Chart.yaml`,
    pattern: /^( {6}image: [^\s:]+\/startup-lock):\S+$/m,
    replace: (v) => `      image: ghcr.io/startup-lock/startup-lock:${v}`,
  },
  { file: `${chartPaths.library}/Chart.yaml`, pattern: /^version: .*$/m, replace: (v) => `version: ${v}` },
  {
    file: `${chartPaths.library}/Chart.yaml`,
    pattern: /^appVersion: .*$/m,
    replace: (v) => `appVersion: "${v}"`,
  },
  {
    file: chartPaths.libraryTemplate,
    pattern: /(define "startup-lock-client\.appVersion" -}}\n)[^\n]*/,
    replace: (v) => `define "startup-lock-client.appVersion" -}}\n${v}`,
  },
  {
    file: `${chartPaths.example}/Chart.yaml`,
    pattern: /^( {2}- name: startup-lock-client\n {4}version: ).*$/m,
    replace: (v) => `  - name: startup-lock-client\n    version: ${v}`,
  },
];

/** Writes `version` everywhere the charts carry it; returns the files that changed. */
export async function syncVersions(root: string, version: string): Promise<string[]> {
  checkVersion(version);
  const changed = new Set<string>();
  for (const edit of edits) {
    const path = join(root, edit.file);
    const before = await readFile(path, 'utf8');
    if (!edit.pattern.test(before))
      throw new Error(`${edit.file}: no match for ${edit.pattern} (was it reformatted?)`);
    const after = before.replace(edit.pattern, edit.replace(version));
    if (after !== before) {
      await writeFile(path, after);
      changed.add(edit.file);
    }
  }
  return [...changed];
}

/** Every place that disagrees with `version`, as "file: what it says". */
export async function versionMismatches(root: string, version: string): Promise<string[]> {
  const problems: string[] = [];
  for (const edit of edits) {
    const text = await readFile(join(root, edit.file), 'utf8');
    const found = edit.pattern.exec(text)?.[0];
    if (found !== edit.replace(version)) problems.push(`${edit.file}: ${found ?? '(missing)'}`);
  }
  return problems;
}

export interface Change {
  kind: 'added' | 'changed' | 'deprecated' | 'removed' | 'fixed' | 'security';
  description: string;
}

/**
 * The entries of CHANGELOG.md (Keep a Changelog) for `version`, or for "Unreleased" when the version has
 * no section yet; one entry per list item, its lines joined.
 */
export function changelogEntries(changelog: string, version: string): { section: string; changes: Change[] } {
  const sections = changelog.split(/^## /m).slice(1);
  const find = (name: string) => sections.find((s) => s.startsWith(`[${name}]`) || s.startsWith(`${name} `));
  const section = find(version) !== undefined ? version : 'Unreleased';
  const body = find(section);
  if (body === undefined)
    throw new Error(`CHANGELOG.md has neither a "## [${version}]" nor an "## [Unreleased]" section`);
  const changes: Change[] = [];
  let kind: Change['kind'] | undefined;
  let item: string[] | undefined;
  const flush = () => {
    if (kind !== undefined && item !== undefined) changes.push({ kind, description: item.join(' ') });
    item = undefined;
  };
  for (const line of body.split('\n').slice(1)) {
    const heading = /^### +(\w+)/.exec(line);
    if (heading) {
      flush();
      const word = heading[1]?.toLowerCase();
      kind = (['added', 'changed', 'deprecated', 'removed', 'fixed', 'security'] as const).find(
        (k) => k === word,
      );
    } else if (line.startsWith('- ')) {
      flush();
      item = [line.slice(2).trim()];
    } else if (item !== undefined && /^\s+\S/.test(line)) {
      item.push(line.trim());
    } else if (line.trim() === '') {
      flush();
    }
  }
  flush();
  return { section, changes };
}

export interface StageOptions {
  root: string;
  stageDir: string;
  version: string;
  registry: string;
  imageRepository: string;
  indexDigest: string;
  platforms: string[];
  changes: Change[];
}

/**
 * Copies both charts into `stageDir` and points them at what the release pushes: the image repository
 * and the chart repository in the registry, the image by digest in artifacthub.io/images, and the
 * CHANGELOG's entries in artifacthub.io/changes. Returns the staged chart directories.
 */
export async function stageCharts(o: StageOptions): Promise<{ main: string; library: string }> {
  const main = join(o.stageDir, 'startup-lock');
  const library = join(main, 'charts/startup-lock-client');
  await cp(join(o.root, chartPaths.main), main, { recursive: true });

  await replaceOnce(
    join(main, 'values.yaml'),
    /^( {2}repository: )ghcr\.io\/startup-lock\/startup-lock$/m,
    `  repository: ${o.imageRepository}`,
  );
  const tpl = join(library, 'templates/_initcontainer.tpl');
  await replaceOnce(
    tpl,
    /(define "startup-lock-client\.imageRepository" -}}\n)[^\n]*/,
    `define "startup-lock-client.imageRepository" -}}\n${o.imageRepository}`,
  );
  await replaceOnce(
    tpl,
    /(define "startup-lock-client\.chartRepository" -}}\n)[^\n]*/,
    `define "startup-lock-client.chartRepository" -}}\noci://${o.registry}/${chartsNamespace}`,
  );

  const image = `${o.imageRepository}:${o.version}@${o.indexDigest}`;
  const images = stringify([{ name: 'startup-lock', image, platforms: o.platforms }]);
  const changes = o.changes.length > 0 ? stringify(o.changes) : undefined;
  const prerelease = o.version.includes('-');
  for (const dir of [main, library]) {
    const path = join(dir, 'Chart.yaml');
    const doc = parseDocument(await readFile(path, 'utf8'));
    if (doc.get('version') !== o.version || doc.get('appVersion') !== o.version) {
      throw new Error(`${path}: version/appVersion are not ${o.version}`);
    }
    doc.setIn(['annotations', 'artifacthub.io/images'], images);
    if (changes !== undefined) doc.setIn(['annotations', 'artifacthub.io/changes'], changes);
    doc.setIn(['annotations', 'artifacthub.io/prerelease'], String(prerelease));
    await writeFile(path, doc.toString({ lineWidth: 0 }));
  }
  return { main, library };
}

async function replaceOnce(path: string, pattern: RegExp, replacement: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const matches = text.match(
    new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`),
  );
  if (matches?.length !== 1)
    throw new Error(`${path}: expected one match of ${pattern}, found ${matches?.length ?? 0}`);
  await writeFile(path, text.replace(pattern, replacement));
}
