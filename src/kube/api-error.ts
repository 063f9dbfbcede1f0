// Errors from the Kubernetes API, sorted into what the caller must do: stop and tell the operator which
// permission is missing (401/403), or retry (everything else that is not an expected answer).

export type ApiVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

/** One API call, described the way RBAC rules name it. */
export interface ApiCall {
  verb: ApiVerb;
  /** `plural.group`, e.g. `leases.coordination.k8s.io`. */
  resource: string;
  namespace?: string;
  name?: string;
}

/** 401/403: retrying will not help; the message names the verb and resource to grant. */
export class AccessDeniedError extends Error {
  constructor(
    readonly call: ApiCall,
    readonly status: number,
    readonly serverMessage: string,
  ) {
    const where = call.namespace === undefined ? 'cluster-wide' : `in namespace ${call.namespace}`;
    const what = status === 401 ? 'unauthorized (the API rejected the credentials)' : 'forbidden';
    super(
      `cannot ${call.verb} ${call.resource} ${where}: ${what}${serverMessage ? ` — ${serverMessage}` : ''}`,
    );
    this.name = 'AccessDeniedError';
  }
}

/** Any other failure (5xx, 429, connection refused or reset, timeouts): worth retrying. */
export class ApiCallError extends Error {
  constructor(
    readonly call: ApiCall,
    readonly status: number | undefined,
    detail: string,
  ) {
    super(`${call.verb} ${call.resource}${call.name ? ` "${call.name}"` : ''} failed: ${detail}`);
    this.name = 'ApiCallError';
  }
}

/** HTTP status of an error thrown by @kubernetes/client-node, if it got an answer at all. */
export function statusOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'number') return code;
  if (typeof statusCode === 'number') return statusCode;
  return undefined;
}

/** The `message` of the Status object the API answered with (client-node keeps the body as text). */
function serverMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  let status: unknown = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      return body.slice(0, 300);
    }
  }
  const message = (status as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : '';
}

/** Wrap whatever a client-node call threw into AccessDeniedError or ApiCallError. */
export function classifyApiError(err: unknown, call: ApiCall): AccessDeniedError | ApiCallError {
  if (err instanceof AccessDeniedError || err instanceof ApiCallError) return err;
  const status = statusOf(err);
  if (status === 401 || status === 403) return new AccessDeniedError(call, status, serverMessage(err));
  if (status !== undefined) {
    return new ApiCallError(
      call,
      status,
      `HTTP ${status}${serverMessage(err) ? `: ${serverMessage(err)}` : ''}`,
    );
  }
  const e = err as { message?: unknown; code?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  return new ApiCallError(call, undefined, code && !message.includes(code) ? `${code}: ${message}` : message);
}
