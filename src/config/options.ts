// Declaring a command's options: one table per command (server.ts, acquire.ts, …) gives each option its
// flag, environment variable, default, kind, bounds, doc and, where the chart exposes it, its chart value.
// It is the only declaration: load.ts feeds it to convict (the one validation pass), and
// scripts/options.ts generates the README tables, the chart's values, schema, README and templates.
import {
  formatDuration,
  parseBoolean,
  parseCheckUrl,
  parseDuration,
  parseInteger,
  parseLabelPair,
  parseNamespace,
  parseNumber,
  parseString,
  type Parsed,
} from './formats.js';

interface Kind<T> {
  parse(raw: unknown): Parsed<T>;
  show(value: T): string;
}

const kinds = {
  string: { parse: parseString, show: (v: string) => (v === '' ? '""' : v) },
  int: { parse: parseInteger, show: String },
  number: { parse: parseNumber, show: String },
  boolean: { parse: parseBoolean, show: String },
  duration: { parse: parseDuration, show: formatDuration },
  check: { parse: parseCheckUrl, show: String },
  label: { parse: parseLabelPair, show: String },
  namespace: { parse: parseNamespace, show: String },
};

type KindName = keyof typeof kinds;
type ValueOf<K extends KindName> = ReturnType<(typeof kinds)[K]['parse']> extends Parsed<infer T> ? T : never;

export interface OptionSpec<K extends KindName = KindName, R extends boolean = boolean> {
  kind: K;
  doc: string;
  default: R extends true ? ValueOf<K>[] : ValueOf<K>;
  /** Collect every occurrence into a list (`--check a --check b`). */
  repeatable?: R;
  /** Flag name when it is not the kebab-case of the key (the original camelCase flags keep theirs). */
  flag?: string;
  /** Further environment variables read when STARTUP_LOCK_<NAME> is unset (NODE_NAME, KUBECONFIG…). */
  fallbackEnv?: string[];
  /** Inclusive bounds for numbers, in the option's own unit (milliseconds for durations). */
  min?: number;
  max?: number;
  /** The only values a string option takes. */
  oneOf?: readonly string[];
  /** A duration the server counts in whole seconds: milliseconds must add up to whole seconds. */
  wholeSeconds?: boolean;
  /**
   * The chart value that sets this option (a dotted path in chart/values.yaml, e.g. `k8sHealth.failHc`;
   * for `acquire`, the app chart's `startupLock.*` value the startup-lock-client library reads); absent
   * when the chart sets the option itself or does not expose it.
   */
  chart?: string;
  /** The chart's default when it differs from the option's (in the option's own type). */
  chartDefault?: R extends true ? ValueOf<K>[] : ValueOf<K>;
  /** The chart's lower bound when it is stricter than `min` (a container port cannot be 0). */
  chartMin?: number;
  /** What the chart adds to `doc` for that value (RBAC it needs, memory it costs). */
  chartNote?: string;
}

export type Schema = Record<string, OptionSpec>;

export type ConfigOf<S extends Schema> = {
  [P in keyof S]: S[P] extends OptionSpec<infer K, infer R>
    ? R extends true
      ? ValueOf<K>[]
      : ValueOf<K>
    : never;
};

export function option<K extends KindName>(spec: OptionSpec<K, false>): OptionSpec<K, false>;
export function option<K extends KindName>(spec: OptionSpec<K, true>): OptionSpec<K, true>;
export function option<K extends KindName, R extends boolean>(spec: OptionSpec<K, R>): OptionSpec<K, R> {
  return spec;
}

export function kindOf(spec: OptionSpec): Kind<unknown> {
  return kinds[spec.kind] as Kind<unknown>;
}

export function flagOf(key: string, spec: OptionSpec): string {
  return spec.flag ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function envOf(key: string): string {
  return `STARTUP_LOCK_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** What the option accepts, for error lines and --help. */
export function allowedOf(spec: OptionSpec): string {
  const base = kindOf(spec).parse(undefined);
  if (spec.oneOf) return `one of ${spec.oneOf.join(', ')}`;
  let text = base.ok ? spec.kind : base.allowed;
  const show = (n: number) => (spec.kind === 'duration' ? formatDuration(n) : String(n));
  if (spec.min !== undefined && spec.max !== undefined)
    text += ` from ${show(spec.min)} to ${show(spec.max)}`;
  else if (spec.min !== undefined) text += ` of at least ${show(spec.min)}`;
  else if (spec.max !== undefined) text += ` of at most ${show(spec.max)}`;
  return text;
}

/** Whether a parsed value is within the option's bounds and allowed values. */
export function admits(spec: OptionSpec, value: unknown): boolean {
  if (spec.oneOf && !spec.oneOf.includes(String(value))) return false;
  if (typeof value === 'number') {
    if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max))
      return false;
  }
  return true;
}

/** Parse one raw value for an option; a bounds violation counts as not allowed. */
export function parseValue(spec: OptionSpec, raw: unknown): Parsed<unknown> {
  const parsed = kindOf(spec).parse(raw);
  return parsed.ok && admits(spec, parsed.value) ? parsed : { ok: false, allowed: allowedOf(spec) };
}
