// A few calls of Prometheus' HTTP API (/api/v1), typed just enough for the tests.
export interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
  errorType?: string;
}

export class PrometheusApiError extends Error {
  override name = 'PrometheusApiError';
}

async function get<T>(base: string, path: string, params: Record<string, string>): Promise<T> {
  const url = `${base}${path}?${new URLSearchParams(params).toString()}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as ApiResponse<T>;
  if (body.status !== 'success') {
    throw new PrometheusApiError(`${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
  }
  return body.data;
}

/** A range query (matrix result): what a Grafana time-series panel asks for. */
export async function queryRange(
  base: string,
  query: string,
  startS: number,
  endS: number,
  stepS = 1,
): Promise<Series[]> {
  const data = await get<{ resultType: string; result: Series[] }>(base, '/api/v1/query_range', {
    query,
    start: String(startS),
    end: String(endS),
    step: String(stepS),
  });
  return data.result;
}

/** An instant query's vector result: [labels, value]. */
export async function query(
  base: string,
  expr: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const data = await get<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
    base,
    '/api/v1/query',
    { query: expr },
  );
  return data.result;
}

/** The values of a label on series matching `match` (Grafana's label_values()). */
export function labelValues(base: string, label: string, match: string): Promise<string[]> {
  return get<string[]>(base, `/api/v1/label/${label}/values`, { 'match[]': match });
}

export interface RuleState {
  name: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
  type: string;
}

export async function rules(base: string): Promise<RuleState[]> {
  const data = await get<{ groups: { rules: RuleState[] }[] }>(base, '/api/v1/rules', {});
  return data.groups.flatMap((group) => group.rules);
}

/** Finite sample values in a matrix (NaN and ±Inf are what empty histograms and 0/0 give). */
export function finiteValues(series: Series[]): number[] {
  return series.flatMap((s) => s.values.map(([, v]) => Number(v))).filter((v) => Number.isFinite(v));
}
