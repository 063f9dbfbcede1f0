// Generates everything that repeats the option tables (src/config/<command>.ts), so an option is declared
// once: the README's option tables, the chart's values (the `## @param` line and default of every value
// that sets an option), the option parts of chart/values.schema.json, the chart's option template
// (chart/templates/_options.tpl: values → the --config file of the server, the health sidecar and the
// injector) and chart/README.md's values table (from values.yaml, as @bitnami/readme-generator-for-helm
// would).
//   tsx scripts/options.ts           write them
//   tsx scripts/options.ts --check   exit 1 if any committed file is not what this file generates
// test/chart/docs.test.ts runs the check, so `npm test` fails on a stale file.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument, isMap, isScalar, type Document } from 'yaml';

import { acquireCommand } from '../src/config/acquire.js';
import {
  DURATION_PATTERN,
  DURATION_UNITS_MS,
  formatDuration,
  NAMESPACE_PATTERN,
} from '../src/config/formats.js';
import { healthCommand } from '../src/config/health.js';
import { injectCommand } from '../src/config/inject.js';
import type { CommandSpec } from '../src/config/load.js';
import { allowedOf, envOf, flagOf, kindOf, type OptionSpec, type Schema } from '../src/config/options.js';
import { runCommand } from '../src/config/run.js';
import { serverCommand } from '../src/config/server.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** What the generator needs of a command: its name and option table. */
type Command = Pick<CommandSpec<Schema>, 'name' | 'schema'>;
const COMMANDS: Command[] = [serverCommand, acquireCommand, healthCommand, runCommand, injectCommand];
/** Commands whose options the chart renders into a --config file, and the template that holds them. */
const CHART_COMMANDS: [Command, string][] = [
  [serverCommand, 'startup-lock.serverOptions'],
  [healthCommand, 'startup-lock.healthOptions'],
  [injectCommand, 'startup-lock.injectOptions'],
];

/** The library chart's template of the `acquire` args an app chart's startupLock settings set. */
const LIBRARY_TEMPLATE = 'startup-lock-client.acquireArgs';
const LIBRARY_TEMPLATE_FILE = 'chart/charts/startup-lock-client/templates/_acquire_options.tpl';

type Option = { key: string; spec: OptionSpec };
const optionsOf = (command: Command): Option[] =>
  Object.entries(command.schema).map(([key, spec]) => ({ key, spec }));

/** Every option the chart exposes, once per chart value (the first declaration wins: logLevel). */
function chartOptions(): Option[] {
  const seen = new Map<string, Option>();
  for (const [command] of CHART_COMMANDS)
    for (const o of optionsOf(command))
      if (o.spec.chart && !seen.has(o.spec.chart)) seen.set(o.spec.chart, o);
  return [...seen.values()];
}

// ---- README.md: one table per command -------------------------------------------------------------

function shownDefault(spec: OptionSpec): string {
  const kind = kindOf(spec);
  const values = spec.repeatable ? (spec.default as unknown[]) : [spec.default];
  const shown = values.filter((v) => v !== '').map((v) => `\`${kind.show(v)}\``);
  return shown.length > 0 ? shown.join(', ') : 'none';
}

function optionTable(command: Command): string {
  const rows = optionsOf(command).map(({ key, spec }) => {
    const flag = `\`--${flagOf(key, spec)}\`${spec.repeatable ? ' (repeatable)' : ''}`;
    const env = [envOf(key), ...(spec.fallbackEnv ?? [])].map((e) => `\`$${e}\``).join(', ');
    const cell = (text: string) => text.replace(/\|/g, '\\|');
    // Durations need only their bounds here: the grammar is described once, under Configuration.
    const allowed =
      spec.kind === 'duration'
        ? allowedOf(spec).replace(/^a duration: .*?\) (from|of)/, 'duration $1')
        : allowedOf(spec);
    return `| ${flag} | ${shownDefault(spec)} | ${env} | ${cell(spec.doc)} | ${cell(allowed)} |`;
  });
  return ['| option | default | environment | meaning | allowed |', '|---|---|---|---|---|', ...rows].join(
    '\n',
  );
}

function renderReadme(current: string): string {
  let text = current;
  for (const command of COMMANDS) {
    const begin = `<!-- options:${command.name} begin: generated from src/config/${command.name}.ts by scripts/options.ts -->`;
    const end = `<!-- options:${command.name} end -->`;
    const from = text.indexOf(begin);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new Error(`README.md: markers for ${command.name} missing`);
    text = `${text.slice(0, from + begin.length)}\n${optionTable(command)}\n${text.slice(to)}`;
  }
  return text;
}

// ---- chart/values.yaml: the @param line and default of every value that sets an option ----------

/** The value in chart form: durations as text in the one grammar, everything else as itself. */
function chartValue(spec: OptionSpec): unknown {
  const value = spec.chartDefault ?? spec.default;
  if (spec.kind === 'duration') return formatDuration(value as number);
  return value;
}

function chartDoc(key: string, spec: OptionSpec): string {
  const doc = spec.doc.replace(/\.$/, '');
  return `${doc}${spec.chartNote ? `; ${spec.chartNote}` : ''} (\`--${flagOf(key, spec)}\`)`;
}

/**
 * Rewrites the `## @param` line and the value line of every chart option in place. A new option's pair
 * is added after the previous chart option of its table with the same parent, so adding an option is
 * one edit of its table (move the pair elsewhere in values.yaml if it belongs there: it is found again).
 */
function renderValues(current: string): string {
  const lines = current.split('\n');
  const paramAt = (path: string) =>
    lines.findIndex((l) => new RegExp(`^\\s*## @param ${path.replace(/\./g, '\\.')} `).test(l));
  const parentOf = (path: string) => path.split('.').slice(0, -1).join('.');
  let previous: { path: string; valueAt: number } | undefined;
  for (const { key, spec } of chartOptions()) {
    const path = spec.chart!;
    const leaf = path.split('.').at(-1)!;
    let at = paramAt(path);
    if (at < 0) {
      if (!previous || parentOf(previous.path) !== parentOf(path))
        throw new Error(
          `chart/values.yaml: add a "## @param ${path}" line and its value for --${flagOf(key, spec)}`,
        );
      const indent = /^\s*/.exec(lines[previous.valueAt]!)![0];
      lines.splice(previous.valueAt + 1, 0, `${indent}## @param ${path} x`, `${indent}${leaf}: x`);
      at = previous.valueAt + 1;
    }
    const indent = /^\s*/.exec(lines[at]!)![0];
    const valueAt = lines.findIndex((l, i) => i > at && l.startsWith(`${indent}${leaf}:`));
    if (valueAt < 0) throw new Error(`chart/values.yaml: no value line for ${path}`);
    lines[at] = `${indent}## @param ${path} ${chartDoc(key, spec)}`;
    lines[valueAt] = `${indent}${leaf}: ${JSON.stringify(chartValue(spec))}`;
    previous = { path, valueAt };
  }
  return lines.join('\n');
}

// ---- chart/values.schema.json: the option parts ----------------------------------------------------

/** A regular expression (RE2 and ECMAScript alike) for the whole numbers lo..hi, leading zeros allowed. */
export function wholeNumbers(lo: number, hi: number): string {
  const same = (a: string, b: string): string => {
    if (a === b) return a;
    if (/^0*$/.test(a) && /^9*$/.test(b)) return `[0-9]{${a.length}}`;
    if (a.length === 1) return `[${a}-${b}]`;
    const rest = a.length - 1;
    if (a[0] === b[0]) return `${a[0]}(?:${same(a.slice(1), b.slice(1))})`;
    const parts = [`${a[0]}(?:${same(a.slice(1), '9'.repeat(rest))})`];
    if (Number(b[0]) - Number(a[0]) > 1)
      parts.push(`[${Number(a[0]) + 1}-${Number(b[0]) - 1}][0-9]{${rest}}`);
    parts.push(`${b[0]}(?:${same('0'.repeat(rest), b.slice(1))})`);
    return parts.join('|');
  };
  const parts: string[] = [];
  for (let digits = String(lo).length; digits <= String(hi).length; digits++) {
    const from = Math.max(lo, digits === 1 ? 0 : 10 ** (digits - 1));
    const to = Math.min(hi, 10 ** digits - 1);
    if (from <= to) parts.push(same(String(from), String(to)));
  }
  return `0*(?:${parts.join('|')})`;
}

/** DURATION_PATTERN narrowed to min..max milliseconds, unit by unit. */
export function boundedDuration(min = 0, max = Number.MAX_SAFE_INTEGER): string {
  const forms: string[] = [];
  for (const [unit, ms] of Object.entries(DURATION_UNITS_MS)) {
    const lo = Math.ceil(min / ms);
    const hi = Math.floor(Math.min(max, 10 ** 15) / ms);
    if (lo > hi) continue;
    forms.push(`${wholeNumbers(lo, hi)}${unit === 's' ? '(?:s)?' : unit}`);
  }
  return `^(?:${forms.join('|')})$`;
}

function optionSchema(spec: OptionSpec): Record<string, unknown> {
  if (!spec.repeatable) return valueSchema(spec, spec.doc);
  const { description, ...items } = valueSchema(spec, '');
  return { description: `${spec.doc}${description ? ` ${String(description)}` : ''}`, type: 'array', items };
}

/** The schema of one value of an option; `description` only says what the doc does not. */
function valueSchema(spec: OptionSpec, doc: string): Record<string, unknown> {
  const description = doc || undefined;
  const bounds = { minimum: spec.chartMin ?? spec.min, maximum: spec.max };
  switch (spec.kind) {
    case 'int':
      return { description, type: 'integer', ...bounds };
    case 'number':
      return { description, type: 'number', ...bounds };
    case 'boolean':
      return { description, type: 'boolean' };
    case 'duration':
      return {
        description: `${doc ? `${doc} ` : ''}A duration: whole seconds (15) or a whole number with a unit (500ms, 15s, 2m, 1h).`,
        anyOf: [
          {
            type: 'integer',
            minimum: Math.ceil((spec.min ?? 0) / 1000),
            ...(spec.max !== undefined ? { maximum: Math.floor(spec.max / 1000) } : {}),
          },
          { type: 'string', pattern: boundedDuration(spec.min, spec.max) },
        ],
      };
    case 'label':
      return { description, type: 'string', pattern: '^[^:]+:.+$' };
    case 'namespace':
      return { description, type: 'string', pattern: NAMESPACE_PATTERN };
    default:
      return spec.oneOf
        ? { description, type: 'string', enum: [...spec.oneOf] }
        : { description, type: 'string' };
  }
}

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
} & Record<string, unknown>;

function renderSchema(current: string): string {
  const schema = JSON.parse(current) as JsonSchema;
  schema.definitions!.duration = {
    description: 'A duration: whole seconds (15) or a whole number with a unit (500ms, 15s, 2m, 1h)',
    anyOf: [
      { type: 'integer', minimum: 0 },
      { type: 'string', pattern: DURATION_PATTERN },
    ],
  };
  for (const { spec } of chartOptions()) {
    const path = spec.chart!.split('.');
    let node = schema;
    for (const part of path.slice(0, -1)) node = node.properties![part]!;
    node.properties![path.at(-1)!] = JSON.parse(JSON.stringify(optionSchema(spec))) as JsonSchema;
  }
  return `${JSON.stringify(schema, null, 2)}\n`;
}

// ---- chart/templates/_options.tpl: values → the options of each --config file ----------------------

function renderTemplate(): string {
  const out = [
    '{{/* Generated by scripts/options.ts from the option tables in src/config/: do not edit. */}}',
    '{{/* Each template is a YAML map of option → chart value, the part of a --config file the values set. */}}',
  ];
  for (const [command, name] of CHART_COMMANDS) {
    out.push('', `{{- define "${name}" -}}`, '{{- $options := dict }}');
    for (const { key, spec } of optionsOf(command)) {
      if (spec.chart) out.push(`{{- $_ := set $options "${key}" .Values.${spec.chart} }}`);
    }
    out.push('{{- toYaml $options }}', '{{- end }}');
  }
  return `${out.join('\n')}\n`;
}

// ---- the library chart's templates/_acquire_options.tpl: startupLock.* → the init container's args ---

/**
 * The `acquire` options an app chart sets under `startupLock`, as args lines (an init container has no
 * ConfigMap of its own). In table order; one whose chart default is zero or empty is passed only when set
 * (the client's own default then holds), the others always, with the chart default. Durations go through
 * the library's check (the one grammar; whole seconds where the server counts in seconds), whole numbers
 * through their bounds.
 */
function renderLibraryTemplate(): string {
  const out = [
    '{{/* Generated by scripts/options.ts from the option table in src/config/acquire.ts: do not edit. */}}',
    '{{/* The acquire flags the startupLock settings set, as args lines; called with the settings map. */}}',
    `{{- define "${LIBRARY_TEMPLATE}" -}}`,
    '{{- $cfg := . }}',
  ];
  for (const { key, spec } of optionsOf(acquireCommand)) {
    if (!spec.chart) continue;
    const setting = spec.chart.replace(/^startupLock\./, '');
    if (setting === spec.chart || setting.includes('.'))
      throw new Error(
        `acquire --${flagOf(key, spec)}: chart must be startupLock.<setting>, got ${spec.chart}`,
      );
    const flag = `--${flagOf(key, spec)}`;
    const fallback = chartValue(spec);
    const check = (value: string): string => {
      switch (spec.kind) {
        case 'duration': {
          const whole = spec.wholeSeconds ? ' "wholeSeconds"' : '';
          return `{{ include "startup-lock-client.checkDuration" (list "${setting}" ${value}${whole}) | quote }}`;
        }
        case 'int':
          return `{{ ${value} | int | quote }}`;
        case 'string':
          return `{{ ${value} | toString | quote }}`;
        default:
          throw new Error(`acquire --${flagOf(key, spec)}: the library has no form for ${spec.kind} yet`);
      }
    };
    const v = `$${setting}`;
    const outside = [
      `(not (regexMatch "^-?[0-9]+$" (toString ${v})))`,
      ...(spec.min !== undefined ? [`(lt (int ${v}) ${spec.min})`] : []),
      ...(spec.max !== undefined ? [`(gt (int ${v}) ${spec.max})`] : []),
    ];
    const bounds =
      spec.kind === 'int'
        ? [
            `{{- if or ${outside.join(' ')} }}`,
            `{{- fail (printf "startupLock.${setting}: %v is not allowed: ${allowedOf(spec)}" ${v}) }}`,
            '{{- end }}',
          ]
        : [];
    if (fallback === 0 || fallback === '' || fallback === '0s') {
      out.push(
        `{{- with $cfg.${setting} }}`,
        `{{- ${v} := . }}`,
        ...bounds,
        `- ${flag}`,
        `- ${check(v)}`,
        '{{- end }}',
      );
    } else {
      out.push(
        `{{- ${v} := ${JSON.stringify(fallback)} }}`,
        `{{- if and (hasKey $cfg "${setting}") (not (kindIs "invalid" $cfg.${setting})) }}{{ ${v} = $cfg.${setting} }}{{ end }}`,
        ...bounds,
        `- ${flag}`,
        `- ${check(v)}`,
      );
    }
  }
  out.push('{{- end }}');
  return `${out.join('\n')}\n`;
}

// ---- chart/README.md: the values table, from values.yaml --------------------------------------------

function shownValue(value: unknown): string {
  if (value === '') return '""';
  if (typeof value !== 'object' || value === null) return String(value);
  const nested =
    !Array.isArray(value) &&
    Object.values(value).some((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
  return nested ? '{...}' : JSON.stringify(value);
}

function valuesTable(valuesText: string): string {
  const doc: Document = parseDocument(valuesText);
  const valueAt = (path: string): unknown => {
    const node = doc.getIn(path.split('.'), true);
    return isScalar(node)
      ? node.value
      : isMap(node) || node
        ? (node as { toJSON(): unknown }).toJSON()
        : undefined;
  };
  const out: string[] = [];
  for (const line of valuesText.split('\n')) {
    const section = /^## @section (.+)$/.exec(line);
    if (section)
      out.push('', `### ${section[1]}`, '', '| Name | Description | Value |', '| --- | --- | --- |');
    const param = /^\s*## @param (\S+) (.+)$/.exec(line);
    if (param) out.push(`| \`${param[1]}\` | ${param[2]} | \`${shownValue(valueAt(param[1]!))}\` |`);
  }
  return out.join('\n').trim();
}

function renderChartReadme(current: string, valuesText: string): string {
  const begin = '<!-- values begin: generated from values.yaml by scripts/options.ts -->';
  const end = '<!-- values end -->';
  const from = current.indexOf(begin);
  const to = current.indexOf(end);
  if (from < 0 || to < from) throw new Error('chart/README.md: values markers missing');
  return `${current.slice(0, from + begin.length)}\n\n${valuesTable(valuesText)}\n\n${current.slice(to)}`;
}

// ---- main ----------------------------------------------------------------------------------------------

/** Every generated file: path → [current, generated]. */
export function generate(): Map<string, [string, string]> {
  const read = (path: string) => readFileSync(resolve(repoRoot, path), 'utf8');
  const files = new Map<string, [string, string]>();
  const values = renderValues(read('chart/values.yaml'));
  files.set('chart/values.yaml', [read('chart/values.yaml'), values]);
  files.set('README.md', [read('README.md'), renderReadme(read('README.md'))]);
  files.set('chart/values.schema.json', [
    read('chart/values.schema.json'),
    renderSchema(read('chart/values.schema.json')),
  ]);
  let template = '';
  try {
    template = read('chart/templates/_options.tpl');
  } catch {
    // missing counts as stale
  }
  files.set('chart/templates/_options.tpl', [template, renderTemplate()]);
  let libraryTemplate = '';
  try {
    libraryTemplate = read(LIBRARY_TEMPLATE_FILE);
  } catch {
    // missing counts as stale
  }
  files.set(LIBRARY_TEMPLATE_FILE, [libraryTemplate, renderLibraryTemplate()]);
  files.set('chart/README.md', [read('chart/README.md'), renderChartReadme(read('chart/README.md'), values)]);
  return files;
}

function main(argv: string[]): number {
  const files = generate();
  const stale = [...files].filter(([, [current, generated]]) => current !== generated).map(([path]) => path);
  if (argv.includes('--check')) {
    if (stale.length === 0) return 0;
    console.error(`out of date: ${stale.join(', ')}: run \`npm run options\``);
    return 1;
  }
  for (const path of stale) writeFileSync(resolve(repoRoot, path), files.get(path)![1]);
  console.log(stale.length > 0 ? `wrote ${stale.join(', ')}` : 'all up to date');
  return 0;
}

// Run only as a script, not when a test imports generate().
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
