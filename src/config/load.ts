// Turns argv, the environment and an optional --config file into one validated, typed object.
// Precedence: flag > env > file > default. This module only finds each option's raw text; convict,
// fed from the option table, parses and validates it in one pass (every command, `acquire` too).
// Every problem is collected and reported at once, one line each, naming the option, the value given
// and what is allowed; the caller exits 2.
import convict from 'convict';
import { ConfigError } from '../errors.js';
import {
  admits,
  allowedOf,
  envOf,
  flagOf,
  kindOf,
  parseValue,
  type ConfigOf,
  type OptionSpec,
  type Schema,
} from './options.js';

// Built-ins through getBuiltinModule, not ESM imports: `acquire` loads this module in every init
// container, and an ESM import of node:fs builds its namespace, loading its stream classes (~4 ms).
const { readFileSync, statSync } = process.getBuiltinModule('node:fs');

/** require() for yaml and convict, which `acquire` never loads: node:module is fetched only then. */
function requireHere(id: string): unknown {
  return process.getBuiltinModule('node:module').createRequire(import.meta.url)(id);
}

/**
 * Every option of a command fits in a few KiB; a larger file is a mistake (or an attack on start-up
 * time), refused before it is parsed.
 */
export const MAX_CONFIG_BYTES = 64 * 1024;
/** Unknown keys named one line each, up to this many; the rest are counted. */
const MAX_UNKNOWN_NAMED = 10;

// yaml is loaded only when a --config file needs it: it costs ~40 ms of start-up, paid by every init
// container of `startup-lock acquire` on every pod start. Its own duplicate-key check compares every
// key with every other (40,000 keys: 11 s), so it is off and done here with a Set.
function parseYaml(text: string): unknown {
  const yaml = requireHere('yaml') as typeof import('yaml');
  const doc = yaml.parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) throw doc.errors[0] as Error;
  if (yaml.isMap(doc.contents)) {
    const seen = new Set<string>();
    for (const { key } of doc.contents.items) {
      const name = String(yaml.isScalar(key) ? key.value : key);
      if (seen.has(name)) throw new Error(`option "${name}" is given twice`);
      seen.add(name);
    }
  }
  return doc.toJS() as unknown;
}

function readConfigFile(path: string): string {
  const tooBig = () => new Error(`larger than ${MAX_CONFIG_BYTES / 1024} KiB: not a config file`);
  if (statSync(path).size > MAX_CONFIG_BYTES) throw tooBig();
  const text = readFileSync(path, 'utf8');
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) throw tooBig();
  return text;
}

/** Thrown for --help: the text to print; the caller exits 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super(text);
    this.name = 'HelpRequested';
  }
}

export interface CommandSpec<S extends Schema> {
  name: string;
  summary: string;
  usage?: string;
  schema: S;
  /** Accept `-- ARGS…` after the options (startup-lock run). */
  passthrough?: boolean;
  /** Cross-option rules, checked once each option is valid on its own. */
  check?: (config: ConfigOf<S>) => string[];
}

export interface Loaded<S extends Schema> {
  config: ConfigOf<S>;
  /** What followed `--`, for commands that wrap another program. */
  rest: string[];
}

type Source = { raw: unknown; from: string };

export function loadConfig<S extends Schema>(
  command: CommandSpec<S>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Loaded<S> {
  const problems: string[] = [];
  const byFlag = new Map<string, string>();
  for (const [key, spec] of Object.entries(command.schema)) byFlag.set(flagOf(key, spec), key);

  const flags = new Map<string, unknown[]>();
  let configFile: string | undefined = env.STARTUP_LOCK_CONFIG || undefined;
  const rest: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (token === '-h' || token === '--help' || token === 'help') throw new HelpRequested(helpText(command));
    // Go-style single-dash long flags (`-port 9000`) are accepted too: the originals were Go programs.
    const m = /^--?([A-Za-z][\w-]*)(?:=(.*))?$/s.exec(token);
    if (!m) {
      if (command.passthrough) {
        rest.push(...argv.slice(i));
        break;
      }
      problems.push(`unexpected argument "${token}": ${command.name} takes only options (see --help)`);
      continue;
    }
    let name = m[1] as string;
    let value: unknown = m[2];
    if (name === 'config') {
      if (value === undefined) value = argv[++i];
      if (typeof value !== 'string' || value === '') problems.push('--config: needs a file path');
      else configFile = value;
      continue;
    }
    let key = byFlag.get(name);
    if (key === undefined && name.startsWith('no-') && value === undefined) {
      const positive = byFlag.get(name.slice(3));
      if (positive !== undefined && command.schema[positive]?.kind === 'boolean') {
        key = positive;
        name = name.slice(3);
        value = 'false';
      }
    }
    if (key === undefined) {
      problems.push(`--${name}: unknown option for ${command.name} (see --help)`);
      if (value === undefined && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('-')) i++;
      continue;
    }
    const spec = command.schema[key] as OptionSpec;
    if (value === undefined) {
      if (spec.kind === 'boolean') value = 'true';
      else if (i + 1 < argv.length) value = argv[++i];
      else {
        problems.push(`--${name}: needs a value (${allowedOf(spec)})`);
        continue;
      }
    }
    flags.set(key, [...(flags.get(key) ?? []), value]);
  }

  let file: Record<string, unknown> = {};
  if (configFile !== undefined) {
    try {
      const text = readConfigFile(configFile);
      const doc: unknown = configFile.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
      if (doc !== null && doc !== undefined) {
        if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('expected a mapping of options');
        file = doc as Record<string, unknown>;
      }
    } catch (err) {
      problems.push(`--config: cannot read ${configFile}: ${(err as Error).message}`);
    }
    // Own keys only: `constructor` or `__proto__` are not options because every object has them.
    const unknown = Object.keys(file).filter((key) => !Object.hasOwn(command.schema, key));
    for (const key of unknown.slice(0, MAX_UNKNOWN_NAMED))
      problems.push(`${configFile}: unknown option ${JSON.stringify(key.slice(0, 60))} for ${command.name}`);
    if (unknown.length > MAX_UNKNOWN_NAMED)
      problems.push(`${configFile}: ${unknown.length - MAX_UNKNOWN_NAMED} more unknown options`);
  }

  // The raw text of every option given, as convict coerces it (a YAML number or boolean as its text);
  // options not given take their default from convict.
  const given: Record<string, unknown> = {};
  const origins = new Map<string, Source[]>();
  for (const [key, spec] of Object.entries(command.schema)) {
    const sources = pick(key, spec, flags, env, file, configFile);
    if (sources === undefined) continue;
    origins.set(key, sources);
    given[key] = spec.repeatable
      ? sources.map((s) => asText(s.raw))
      : asText(sources[sources.length - 1]!.raw);
  }
  let config: ConfigOf<S> | undefined;
  try {
    config = validateWithConvict(command.schema, given, origins);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems);
  const crossProblems = command.check?.(config) ?? [];
  if (crossProblems.length > 0) throw new ConfigError(crossProblems);
  if (!command.passthrough && rest.length > 0) {
    throw new ConfigError([`unexpected arguments after --: ${command.name} does not run a command`]);
  }
  return { config, rest };
}

function pick(
  key: string,
  spec: OptionSpec,
  flags: Map<string, unknown[]>,
  env: NodeJS.ProcessEnv,
  file: Record<string, unknown>,
  configFile: string | undefined,
): Source[] | undefined {
  const fromFlags = flags.get(key);
  if (fromFlags !== undefined) return fromFlags.map((raw) => ({ raw, from: '' }));
  for (const name of [envOf(key), ...(spec.fallbackEnv ?? [])]) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') {
      const list = spec.repeatable ? raw.split(/[\s,]+/).filter(Boolean) : [raw];
      return list.map((item) => ({ raw: item, from: ` (from $${name})` }));
    }
  }
  if (Object.hasOwn(file, key)) {
    const raw = file[key];
    const list = spec.repeatable ? (Array.isArray(raw) ? raw : [raw]) : [raw];
    return list.map((item) => ({ raw: item, from: ` (from ${configFile})` }));
  }
  return undefined;
}

/**
 * What convict's coercion leaves for text that is not of the option's kind; its format then refuses it.
 * A registered symbol: convict's formats are global to the process, and another copy of this module
 * (a test runner may load one) must recognise it too.
 */
const NOT_PARSED = Symbol.for('startup-lock.config.not-parsed');

/**
 * Text for convict to coerce: flags and env are text already; a file's number or boolean becomes its
 * text. Anything else (a map, a list, null where one value belongs) is refused as it is.
 */
function asText(raw: unknown): string | typeof NOT_PARSED {
  if (typeof raw === 'string') return raw;
  return typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : NOT_PARSED;
}

function show(raw: unknown): string {
  return typeof raw === 'string' ? JSON.stringify(raw) : String(JSON.stringify(raw));
}

type Problem = { key: string; index: number; allowed: string };
/**
 * An option's node in convict's schema: its spec, its key, and where its format reports a problem (a
 * function on the node, not module state: convict's formats are global to the process, and whichever
 * copy of this module registered them last serves every caller).
 */
type Node = OptionSpec & { key: string; report: (problem: Problem) => void };

/**
 * One convict format per kind: coerce parses the text (durations to milliseconds, numbers, booleans),
 * validate checks the option's bounds and allowed values. Defaults arrive typed and are validated too.
 * Repeated options are lists of text that parses as itself (check URLs, labels): validate parses each.
 */
const FORMAT_PREFIX = 'startup-lock-';
convict.addFormats(
  Object.fromEntries(
    (['string', 'int', 'number', 'boolean', 'duration', 'check', 'label', 'namespace'] as const).map(
      (kind) => [
        FORMAT_PREFIX + kind,
        {
          coerce: (text: string): unknown => {
            const parsed = kindOf({ kind } as OptionSpec).parse(text);
            return parsed.ok ? parsed.value : NOT_PARSED;
          },
          validate: (value: unknown, node: Node): void => {
            const items: unknown[] = node.repeatable
              ? Array.isArray(value)
                ? value
                : [NOT_PARSED]
              : [value];
            let refused = 0;
            items.forEach((item, index) => {
              const typed = node.repeatable
                ? parseValue(node, item).ok
                : item !== NOT_PARSED && admits(node, item);
              if (typed) return;
              refused++;
              node.report({ key: node.key, index, allowed: allowedOf(node) });
            });
            if (refused > 0) throw new Error(`must be ${allowedOf(node)}`);
          },
        },
      ],
    ),
  ),
);

/**
 * convict holds the schema, coerces each value and validates the whole object strictly. It is handed
 * no argv or environment: both are merged already, and left to itself it would parse process.argv again.
 */
function validateWithConvict<S extends Schema>(
  schema: S,
  given: Record<string, unknown>,
  origins: Map<string, Source[]>,
): ConfigOf<S> {
  const found: Problem[] = [];
  const config = convict(
    toConvictSchema(schema, (p) => found.push(p)),
    { args: [], env: {} },
  );
  try {
    config.load(given).validate({ allowed: 'strict' });
  } catch (err) {
    const problems = found.map(({ key, index, allowed }) => {
      const spec = schema[key] as OptionSpec;
      const sources = origins.get(key) ?? [];
      const { raw, from } = (spec.repeatable ? sources[index] : sources[sources.length - 1]) ?? {
        raw: undefined,
        from: '',
      };
      return `--${flagOf(key, spec)}: ${show(raw)}${from} is not allowed: expected ${allowed}`;
    });
    throw new ConfigError(problems.length > 0 ? problems : String((err as Error).message).split('\n'));
  }
  return config.getProperties() as ConfigOf<S>;
}

function toConvictSchema(schema: Schema, report: Node['report']): convict.Schema<Record<string, unknown>> {
  const out: Record<string, Node & { format: string }> = {};
  for (const [key, spec] of Object.entries(schema)) {
    out[key] = { ...spec, key, report, format: FORMAT_PREFIX + spec.kind };
  }
  return out as unknown as convict.Schema<Record<string, unknown>>;
}

export function helpText<S extends Schema>(command: CommandSpec<S>): string {
  const lines = [
    `Usage: startup-lock ${command.name} ${command.usage ?? '[options]'}`,
    '',
    command.summary,
    '',
    'Options (flag > environment > --config file > default):',
  ];
  for (const [key, spec] of Object.entries(command.schema)) {
    const kind = kindOf(spec);
    const def = spec.repeatable
      ? (spec.default as unknown[]).length === 0
        ? 'none'
        : (spec.default as unknown[]).map((v) => kind.show(v)).join(', ')
      : kind.show(spec.default);
    const envs = [envOf(key), ...(spec.fallbackEnv ?? [])].map((e) => `$${e}`).join(', ');
    lines.push(`  --${flagOf(key, spec)}${spec.repeatable ? ' (repeatable)' : ''}`);
    lines.push(`      ${spec.doc}`);
    lines.push(`      default: ${def}; env: ${envs}; allowed: ${allowedOf(spec)}`);
  }
  lines.push('  --config FILE', '      JSON or YAML file of options (keys as in the table: camelCase).');
  lines.push('  -h, --help', '      Print this help.');
  return lines.join('\n');
}
