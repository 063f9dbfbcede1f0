// The lock's HTTP API as the container tests see it from the host (types are what the tests read).
export interface LeaseJson {
  id: string;
  holder: string;
  slot: number;
  grantedAt: string;
  expiresAt: string;
}

export interface RefusalJson {
  position: number;
  queueLength: number;
  reason: string;
}

export interface StatusJson {
  ready: boolean;
  draining: boolean;
  slots: number;
  leasesActive: number;
  holders: { holder: string; slot: number; grantedAt: string; expiresAt: string }[];
  queue: { holder: string; position: number; connected: boolean }[];
}

export interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
}

async function call<T>(
  method: string,
  url: string,
  parse: 'json' | 'text',
  timeoutMs: number,
): Promise<Answer<T>> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(timeoutMs) });
  const raw = await res.text();
  const body = (parse === 'json' && raw !== '' ? JSON.parse(raw) : raw) as T;
  return { status: res.status, body, headers: res.headers };
}

export const getText = (url: string, timeoutMs = 5000) => call<string>('GET', url, 'text', timeoutMs);

export function requestLease(
  baseUrl: string,
  params: { holder: string; duration?: number; wait?: number },
  timeoutMs = 5000,
): Promise<Answer<LeaseJson & RefusalJson>> {
  const q = new URLSearchParams({ holder: params.holder });
  if (params.duration !== undefined) q.set('duration', String(params.duration));
  if (params.wait !== undefined) q.set('wait', String(params.wait));
  return call('POST', `${baseUrl}/v1/leases?${q}`, 'json', timeoutMs + (params.wait ?? 0) * 1000);
}

export const releaseLease = (baseUrl: string, id: string) =>
  call<unknown>('DELETE', `${baseUrl}/v1/leases/${encodeURIComponent(id)}`, 'json', 5000);

export async function getStatus(baseUrl: string, timeoutMs = 2000): Promise<StatusJson> {
  const answer = await call<StatusJson>('GET', `${baseUrl}/v1/status`, 'json', timeoutMs);
  if (answer.status !== 200) throw new Error(`GET /v1/status answered ${answer.status}`);
  return answer.body;
}

/**
 * Polls /v1/status until `predicate` holds. The server is another process: its state can only be
 * observed, not awaited, so this polls every 50 ms up to a bound.
 */
export async function statusUntil(
  baseUrl: string,
  predicate: (status: StatusJson) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<StatusJson> {
  const deadline = Date.now() + timeoutMs;
  let last: StatusJson | string | undefined;
  while (Date.now() < deadline) {
    try {
      const status = await getStatus(baseUrl);
      if (predicate(status)) return status;
      last = status;
    } catch (err) {
      last = (err as Error).message; // a busy machine may answer late: keep asking until the deadline
    }
    await new Promise((wake) => setTimeout(wake, 50));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}; last status: ${JSON.stringify(last)}`,
  );
}
