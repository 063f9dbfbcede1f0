// Parsers for the value kinds options take. Each returns the typed value or a description of what is
// allowed, so a problem can name the option, the value given and what would have been accepted.

export type Parsed<T> = { ok: true; value: T } | { ok: false; allowed: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const no = <T>(allowed: string): Parsed<T> => ({ ok: false, allowed });

/**
 * The one duration grammar, for flags, environment, config files, chart values, the library chart and
 * the HTTP API: a whole number of seconds (`15`) or a whole number with a unit (`500ms`, `15s`, `2m`,
 * `1h`). No decimals (`1.5s` is `1500ms`), no sign, no spaces. A YAML or JSON number is whole seconds.
 * Whole numbers keep every surface exact: the chart's schema bounds them with a regular expression and
 * its templates do integer arithmetic. scripts/options.ts writes this pattern into the chart;
 * test/chart/durations.test.ts feeds every surface the same inputs.
 */
export const DURATION_PATTERN = '^[0-9]+(ms|s|m|h)?$';
const DURATION = new RegExp(DURATION_PATTERN);
export const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** A duration in the one grammar (DURATION_PATTERN), in milliseconds. */
export function parseDuration(raw: unknown): Parsed<number> {
  const allowed = 'a duration: whole seconds (15) or a whole number with a unit (500ms, 15s, 2m, 1h)';
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? ok(raw * 1000) : no(allowed);
  if (typeof raw !== 'string') return no(allowed);
  const m = DURATION.exec(raw);
  if (!m) return no(allowed);
  const ms = parseInt(raw, 10) * DURATION_UNITS_MS[(m[1] ?? 's') as keyof typeof DURATION_UNITS_MS];
  return Number.isSafeInteger(ms) ? ok(ms) : no(allowed);
}

export function parseInteger(raw: unknown): Parsed<number> {
  const allowed = 'a whole number';
  if (typeof raw === 'number') return Number.isInteger(raw) ? ok(raw) : no(allowed);
  if (typeof raw === 'string' && /^-?\d+$/.test(raw.trim())) return ok(Number(raw.trim()));
  return no(allowed);
}

export function parseNumber(raw: unknown): Parsed<number> {
  const allowed = 'a number';
  if (typeof raw === 'number') return Number.isFinite(raw) ? ok(raw) : no(allowed);
  if (typeof raw === 'string' && /^-?\d+(\.\d+)?$/.test(raw.trim())) return ok(Number(raw.trim()));
  return no(allowed);
}

export function parseBoolean(raw: unknown): Parsed<boolean> {
  if (typeof raw === 'boolean') return ok(raw);
  if (typeof raw === 'string') {
    const v = raw.trim().toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes') return ok(true);
    if (v === 'false' || v === '0' || v === 'no') return ok(false);
  }
  return no('true or false');
}

export function parseString(raw: unknown): Parsed<string> {
  if (typeof raw === 'string') return ok(raw);
  if (typeof raw === 'number') return ok(String(raw));
  return no('a string');
}

/** A dependency check target: http(s)://… (2xx is up) or tcp://host:port (connect is up). */
export function parseCheckUrl(raw: unknown): Parsed<string> {
  const allowed = 'an http://, https:// or tcp://host:port URL';
  if (typeof raw !== 'string') return no(allowed);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return no(allowed);
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') return url.hostname ? ok(raw) : no(allowed);
  if (url.protocol === 'tcp:') {
    const port = Number(url.port);
    const bare = (url.pathname === '' || url.pathname === '/') && !url.search && !url.hash;
    return url.hostname && Number.isInteger(port) && port > 0 && bare ? ok(raw) : no(allowed);
  }
  return no(allowed);
}

/** A `label:value` pair, as the original k8s-health's --in / --ex took. */
export function parseLabelPair(raw: unknown): Parsed<string> {
  const allowed = 'label:value';
  if (typeof raw !== 'string') return no(allowed);
  const i = raw.indexOf(':');
  return i > 0 && i < raw.length - 1 ? ok(raw) : no(allowed);
}

/** A Kubernetes namespace name: a DNS-1123 label (lower case, digits, '-', at most 63 characters). */
export const NAMESPACE_PATTERN = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const NAMESPACE = new RegExp(NAMESPACE_PATTERN);

export function parseNamespace(raw: unknown): Parsed<string> {
  return typeof raw === 'string' && NAMESPACE.test(raw) ? ok(raw) : no('a namespace name (a DNS label)');
}

/** Seconds for the user, from milliseconds inside: `1500` → `1.5s`. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
