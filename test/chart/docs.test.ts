// values.yaml is the documentation: every value carries a `## @param` line (readme-generator style),
// every @param names a real value, and chart/README.md's table lists each of them. Everything that
// repeats the option tables is what scripts/options.ts generates (`npm run options` rewrites it).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { chartDir } from './helm.js';
import { generate } from '../../scripts/options.js';

const valuesText = readFileSync(path.join(chartDir, 'values.yaml'), 'utf8');
const values = parse(valuesText) as Record<string, unknown>;
const params = [...valuesText.matchAll(/^\s*## @param (\S+) \S/gm)].map((m) => m[1] ?? '');
const readme = readFileSync(path.join(chartDir, 'README.md'), 'utf8');
const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as {
  properties: Record<string, unknown>;
};

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every key path; a documented map counts as one value (its keys are free-form, e.g. resources). */
function undocumented(node: Record<string, unknown>, prefix: string): string[] {
  const missing: string[] = [];
  for (const [key, value] of Object.entries(node)) {
    const keyPath = prefix ? `${prefix}.${key}` : key;
    if (params.includes(keyPath)) continue;
    if (isMap(value) && Object.keys(value).length > 0) missing.push(...undocumented(value, keyPath));
    else missing.push(keyPath);
  }
  return missing;
}

function exists(keyPath: string): boolean {
  let node: unknown = values;
  for (const part of keyPath.split('.')) {
    if (!isMap(node) || !(part in node)) return false;
    node = node[part];
  }
  return true;
}

describe('chart: documentation of values', function () {
  it('is up to date with the option tables (regenerate: npm run options)', function () {
    const stale = [...generate()].filter(([, [current, generated]]) => current !== generated).map(([file]) => file);
    expect(stale).to.deep.equal([]);
  });

  it('documents every value in values.yaml with ## @param', function () {
    expect(undocumented(values, '')).to.deep.equal([]);
  });

  it('every ## @param names a value that exists', function () {
    expect(params.filter((p) => !exists(p))).to.deep.equal([]);
  });

  it('lists every value in the README values table', function () {
    expect(params.filter((p) => !readme.includes(`| \`${p}\` |`))).to.deep.equal([]);
  });

  it('shows the current default of every scalar value in the README table', function () {
    const stale = params.filter((p) => {
      let value: unknown = values;
      for (const part of p.split('.')) value = isMap(value) ? value[part] : undefined;
      if (typeof value === 'object') return false; // maps and lists are abbreviated in the table
      const shown = value === '' ? '""' : String(value);
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${p}\` |`)) ?? '';
      return !row.endsWith(`| \`${shown}\` |`);
    });
    expect(stale).to.deep.equal([]);
  });

  it('has a schema entry for every top-level value', function () {
    expect(Object.keys(values).filter((k) => !(k in schema.properties))).to.deep.equal([]);
  });
});
