// The lean Kubernetes API client: the few calls the long-running server makes (list, watch, get,
// create), on node:https with one keep-alive agent. Written instead of @kubernetes/client-node for the
// server's footprint (importing that library alone costs ~75 MB RSS; got ~20–33 MB; node:https nothing
// the process had not loaded: see docs/benchmarks.md, "Where the memory goes").
//
// Failures carry what src/kube/api-error.ts reads from client-node's errors (`statusCode`, the Status
// `body`; network errors keep their `code`), so classifyApiError sorts them the same way.
import { Agent as HttpAgent, request as httpRequest, STATUS_CODES, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { KubeCredentials } from './credentials.js';

export type Query = Record<string, string | number | boolean | undefined>;

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

/** A Kubernetes `Status` object, as the API answers errors. */
export interface KubeStatus {
  kind?: 'Status';
  code?: number;
  reason?: string;
  message?: string;
}

/** The API answered with an error status. */
export class KubeApiStatusError extends Error {
  constructor(
    readonly statusCode: number,
    /** The Status object the API answered with (or its text when it was not JSON). */
    readonly body: KubeStatus | string,
  ) {
    const message = typeof body === 'string' ? body.slice(0, 300) : (body.message ?? '');
    super(`HTTP ${statusCode} ${STATUS_CODES[statusCode] ?? ''}${message ? `: ${message}` : ''}`.trim());
    this.name = 'KubeApiStatusError';
  }
}

/** A watch event: `object` is the changed object, or a Status for ERROR (410 Gone: list again). */
export type WatchCallback = (type: string, object: unknown, raw: unknown) => void;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Abort the request after this long (default 10 s; 0 for none). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Keep-alive probes on a watch's socket, so a peer that vanished is noticed (as client-node does). */
const WATCH_KEEPALIVE_MS = 30_000;

export class KubeApiClient {
  private readonly agent: HttpAgent;
  private readonly https: boolean;
  private readonly userAgent: string;

  constructor(
    private readonly credentials: KubeCredentials,
    options: { userAgent?: string; maxSockets?: number } = {},
  ) {
    this.https = credentials.server.startsWith('https:');
    this.userAgent = options.userAgent ?? 'startup-lock';
    const common = { keepAlive: true, maxSockets: options.maxSockets ?? 8, maxFreeSockets: 2 };
    this.agent = this.https
      ? new HttpsAgent({
          ...common,
          ...(credentials.ca !== undefined && { ca: credentials.ca }),
          ...(credentials.cert !== undefined && { cert: credentials.cert, key: credentials.key }),
          ...(credentials.tlsServerName !== undefined && { servername: credentials.tlsServerName }),
          rejectUnauthorized: !credentials.insecureSkipTlsVerify,
        })
      : new HttpAgent(common);
  }

  /** GET one object. */
  get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.json<T>('GET', path, options);
  }

  /** List a collection (`fieldSelector`, `labelSelector`, `resourceVersion`… in the query). */
  list<T>(
    path: string,
    query: Query = {},
    options: Omit<RequestOptions, 'query'> = {},
  ): Promise<ListResult<T>> {
    return this.json<ListResult<T>>('GET', path, { ...options, query });
  }

  /** POST an object to a collection; resolves with what the API stored. */
  create<T>(path: string, body: T, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.json<T>('POST', path, { ...options, body });
  }

  /**
   * Watch a collection: the same contract as client-node's `Watch.watch`, so the reflector can take
   * either. Resolves with a controller once the API answered; `done` is called once, with null when
   * the stream ended (server timeout, EOF, abort) or with the error (a KubeApiStatusError when the API
   * refused the watch, e.g. 410 Gone for a resourceVersion too old; a network error otherwise).
   */
  async watch(
    path: string,
    query: Query,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const controller = new AbortController();
    let finished = false;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      controller.abort();
      done(err);
    };
    try {
      const res = await this.send('GET', path, {
        query: { ...query, watch: true },
        timeoutMs: 0,
        signal: controller.signal,
      });
      if (res.statusCode !== 200) throw await statusError(res);
      res.socket.setKeepAlive(true, WATCH_KEEPALIVE_MS);
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (chunk: string) => {
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line.trim() === '' || finished) continue;
          let event: { type?: unknown; object?: unknown };
          try {
            event = JSON.parse(line) as typeof event;
          } catch {
            continue; // as client-node: a line that is not JSON is skipped
          }
          if (typeof event.type === 'string') callback(event.type, event.object, event);
        }
      });
      res.on('end', () => finish(null));
      res.on('error', (err) => finish(controller.signal.aborted ? null : err));
      res.on('close', () => finish(res.complete || controller.signal.aborted ? null : resetError()));
    } catch (err) {
      finish(controller.signal.aborted ? null : err);
    }
    return controller;
  }

  /** Close idle keep-alive connections (open watches are ended by their controllers). */
  close(): void {
    this.agent.destroy();
  }

  private async json<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const res = await this.send(method, path, options);
    if (res.statusCode === undefined || res.statusCode >= 300) throw await statusError(res);
    return JSON.parse(await readBody(res)) as T;
  }

  private send(method: string, path: string, options: RequestOptions): Promise<IncomingMessage> {
    const url = new URL(this.credentials.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.userAgent };
    const authorization = this.credentials.authorization();
    if (authorization !== undefined) headers.Authorization = authorization;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const signals = [options.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    const signal =
      signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    return new Promise((resolvePromise, reject) => {
      const req = (this.https ? httpsRequest : httpRequest)(
        url,
        { method, headers, agent: this.agent, signal },
        (res) => {
          if (res.statusCode === 401) this.credentials.rejected();
          resolvePromise(res);
        },
      );
      req.on('error', (err) => {
        // An abort by the timeout reads as a timeout, not as "This operation was aborted".
        if (signal?.aborted && signal.reason instanceof Error && signal.reason.name === 'TimeoutError') {
          reject(Object.assign(new Error(`no answer within ${timeoutMs / 1000}s`), { code: 'ETIMEDOUT' }));
        } else reject(err);
      });
      req.end(body);
    });
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.on('end', () => resolvePromise(text));
    res.on('error', reject);
  });
}

async function statusError(res: IncomingMessage): Promise<KubeApiStatusError> {
  const status = res.statusCode ?? 0;
  let text = '';
  try {
    text = await readBody(res);
    return new KubeApiStatusError(status, JSON.parse(text) as KubeStatus);
  } catch {
    return new KubeApiStatusError(status, text);
  }
}

function resetError(): Error {
  return Object.assign(new Error('the watch connection closed before the stream ended'), {
    code: 'ECONNRESET',
  });
}
