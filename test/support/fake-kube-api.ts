// A fake kube-apiserver for tests: node:http on 127.0.0.1 with an ephemeral port, an in-memory object
// store, and the real REST wire format, so production code using @kubernetes/client-node talks to it
// through an ordinary kubeconfig and cannot tell. Test controls (failure injection, dropped or expired
// watches, an unreachable API) let tests drive the failure paths a real cluster produces.
//
// Usage:
//   const api = await FakeKubeApi.start();                 // http://127.0.0.1:<ephemeral port>
//   const kubeconfig = await api.writeKubeconfig();        // pass to the process under test (--kubeconfig)
//   api.create('pods', { metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'n1' } });
//   api.patch('pods', 'ns', 'p', { status: { phase: 'Running' } });   // watchers see MODIFIED
//   await api.waitFor('leases', (l) => …);                 // await state instead of sleeping
//   const rule = api.fail({ status: 403, verb: 'update', resource: 'leases' }); … rule.clear();
//   api.dropWatches(); api.compactHistory(); await api.goUnreachable(); await api.goReachable();
//   await api.close();
// Resources are named `plural` or `plural.group` (`pods`, `daemonsets.apps`, `leases`,
// `events.events.k8s.io`); see DEFAULT_RESOURCES, or pass `resources` to start().
//
// Deliberate simplifications (documented so nobody relies on them):
// - no admission, defaulting or schema validation; bodies are stored as given (plus server-set metadata);
// - strategic merge patch is applied as a JSON merge patch (lists are replaced, not merged by key);
// - deletes are immediate (no graceful deletion, finalizers or garbage collection);
// - core/v1 and events.k8s.io/v1 events are stored separately;
// - PUT on the main resource replaces status too (the status subresource replaces status only).
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { jsonPatch, mergePatch, PatchError } from './kube-patch.js';
import {
  apiVersionOf,
  DEFAULT_RESOURCES,
  parsePath,
  resolveResource,
  resourceKey,
  type ParsedPath,
  type ResourceDef,
} from './kube-resources.js';
import {
  parseFieldSelector,
  parseLabelSelector,
  type Json,
  type JsonObject,
  type Matcher,
} from './kube-selectors.js';

export type { Json, JsonObject, ResourceDef };
export { DEFAULT_RESOURCES, resourceKey };

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface FakeKubeApiOptions {
  /** Bearer token every request must carry (the kubeconfig carries it); null turns authentication off. */
  token?: string | null;
  /** User named in Forbidden messages. */
  user?: string;
  /** Watch events kept for replay; a watch from an older resourceVersion gets 410 Gone. */
  historyLimit?: number;
  /** Send BOOKMARK events this often to watches that allow them; 0 sends them only on sendBookmarks(). */
  bookmarkIntervalMs?: number;
  /** Resources served; defaults to DEFAULT_RESOURCES (pods, nodes, daemonsets, leases, events, …). */
  resources?: readonly ResourceDef[];
  /**
   * Serve HTTPS with this certificate (e.g. from makeThrowawayCa) instead of plain http. With
   * `clientCa`, client certificates signed by it are asked for, and a request presenting one is
   * authenticated by it (no token needed), as the real API server does.
   */
  tls?: { cert: string; key: string; ca: string; clientCa?: string };
}

export interface FailureRule {
  /**
   * HTTP status to answer with (401, 403, 500, 503, 429…); 'reset' drops the connection unanswered;
   * 'hang' never answers (the request stays open until the client gives up or the server closes).
   */
  status: number | 'reset' | 'hang';
  /** Only these verbs (default: every verb). */
  verb?: Verb | readonly Verb[];
  /** Only this resource: `leases`, `leases.coordination.k8s.io`, `pods`, `pods/status`… (default: all). */
  resource?: string;
  namespace?: string;
  name?: string;
  /** Fail this many matching requests, then stop (default: until cleared). */
  times?: number;
  /** Message for the Status object (a sensible one is built otherwise). */
  message?: string;
}

export interface FailureHandle {
  /** Matching requests answered so far. */
  readonly hits: number;
  clear(): void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  verb?: Verb;
  /** `plural` or `plural.group`, with `/subresource` when one was addressed. */
  resource?: string;
  namespace?: string;
  name?: string;
  /** HTTP status answered; 0 while in flight (an open watch) or when the connection was reset. */
  status: number;
  /** User-Agent header, to tell clients apart. */
  userAgent?: string;
}

export interface WatchEvent {
  type: WatchEventType;
  object: JsonObject;
}

interface HistoryEntry {
  rv: number;
  key: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: JsonObject;
  /** The object before the change, so a selector that stops matching turns MODIFIED into DELETED. */
  prev?: JsonObject;
}

interface Watcher {
  def: ResourceDef;
  namespace?: string;
  labels: Matcher;
  fields: Matcher;
  bookmarks: boolean;
  res: ServerResponse;
  timer?: NodeJS.Timeout;
}

interface ActiveRule extends FailureRule {
  hits: number;
  active: boolean;
}

/** An API error as the real server words it; answered as a `kind: Status` object. */
export class KubeStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: JsonObject,
  ) {
    super(message);
    this.name = 'KubeStatusError';
  }

  toStatus(): JsonObject {
    const status: JsonObject = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

const MAX_BODY = 3 * 1024 * 1024;

function meta(obj: JsonObject): JsonObject {
  const m = obj.metadata;
  if (m === null || typeof m !== 'object' || Array.isArray(m)) {
    const fresh: JsonObject = {};
    obj.metadata = fresh;
    return fresh;
  }
  return m;
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

const clone = <T>(v: T): T => structuredClone(v);

/** An object as it would travel over the wire (Dates become strings, undefined disappears). */
function asJson(obj: object): JsonObject {
  const json = JSON.parse(JSON.stringify(obj)) as Json;
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error('fake kube-apiserver: an object is needed');
  }
  return json;
}

/** JSON with sorted keys: two objects that differ only in key order are the same object. */
function canonical(value: Json | undefined): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
}

function withoutVolatile(obj: JsonObject): string {
  const copy = clone(obj);
  const m = meta(copy);
  delete m.resourceVersion;
  delete m.managedFields;
  return canonical(copy);
}

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  private readonly defs: readonly ResourceDef[];
  private readonly token: string | null;
  private readonly user: string;
  private readonly historyLimit: number;
  private readonly store = new Map<string, Map<string, JsonObject>>();
  private history: HistoryEntry[] = [];
  /** Every event with rv > historyStart is still in `history`. */
  private historyStart: number;
  private rv: number;
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly rules: ActiveRule[] = [];
  private readonly changes = new EventEmitter();
  private readonly tempDirs: string[] = [];
  private bookmarkTimer?: NodeJS.Timeout;
  private reachable = true;
  private closed = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly options: FakeKubeApiOptions,
  ) {
    this.defs = options.resources ?? DEFAULT_RESOURCES;
    this.token = options.token === undefined ? 'fake-token' : options.token;
    this.user = options.user ?? 'system:serviceaccount:default:startup-lock';
    this.historyLimit = options.historyLimit ?? 1000;
    // Start well above zero: clients treat "0" and "" specially, real clusters never hand them out.
    this.rv = 1000;
    this.historyStart = this.rv;
    this.changes.setMaxListeners(0);
    if (options.bookmarkIntervalMs) {
      this.bookmarkTimer = setInterval(() => this.sendBookmarks(), options.bookmarkIntervalMs);
      this.bookmarkTimer.unref();
    }
  }

  /** Start on 127.0.0.1, an ephemeral port. */
  static async start(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const { tls } = options;
    const server: Server =
      tls === undefined
        ? createServer()
        : (createHttpsServer({
            cert: tls.cert,
            key: tls.key,
            ...(tls.clientCa !== undefined && {
              ca: tls.clientCa,
              requestCert: true,
              rejectUnauthorized: false,
            }),
          }) as unknown as Server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const api = new FakeKubeApi(server, (server.address() as AddressInfo).port, options);
    server.on('connection', (socket) => {
      api.sockets.add(socket);
      socket.on('close', () => api.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      api.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          api.sendStatus(res, new KubeStatusError(500, 'InternalError', `fake: ${(err as Error).message}`));
        } else res.destroy();
      });
    });
    return api;
  }

  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  // ---- the store, for test setup and assertions (no failures, no authentication) ----

  /** Create an object (typed client models like V1Pod are fine: they are stored as their JSON). */
  create(resource: string, obj: object): JsonObject {
    const def = resolveResource(this.defs, resource);
    const json = asJson(obj);
    return clone(this.doCreate(def, str(meta(json).namespace), json));
  }

  /** Read one object; undefined when absent. */
  get(resource: string, namespace: string | undefined, name: string): JsonObject | undefined {
    const def = resolveResource(this.defs, resource);
    const obj = this.bucket(def).get(this.itemKey(def, namespace, name));
    return obj === undefined ? undefined : clone(obj);
  }

  list(resource: string, namespace?: string): JsonObject[] {
    const def = resolveResource(this.defs, resource);
    return this.select(def, namespace, () => true).map(clone);
  }

  /** Replace an object unconditionally (the resourceVersion in `obj` is ignored), as another client would. */
  update(resource: string, obj: object): JsonObject {
    const def = resolveResource(this.defs, resource);
    const next = asJson(obj);
    const m = meta(next);
    const name = str(m.name) ?? '';
    const current = this.mustGet(def, str(m.namespace), name);
    meta(next).resourceVersion = meta(current).resourceVersion ?? null;
    return clone(this.doUpdate(def, current, next, false));
  }

  /** Apply a JSON merge patch to an object. */
  patch(resource: string, namespace: string | undefined, name: string, patch: object): JsonObject {
    const def = resolveResource(this.defs, resource);
    const current = this.mustGet(def, namespace, name);
    const next = mergePatch(current, asJson(patch)) as JsonObject;
    meta(next).resourceVersion = meta(current).resourceVersion ?? null;
    return clone(this.doUpdate(def, current, next, false));
  }

  delete(resource: string, namespace: string | undefined, name: string): JsonObject {
    const def = resolveResource(this.defs, resource);
    return clone(this.doDelete(def, this.mustGet(def, namespace, name)));
  }

  /**
   * Resolve with the first object of `resource` for which `predicate` holds, checking now and after every
   * change; reject after `timeoutMs`. The way to await state instead of sleeping.
   */
  waitFor(
    resource: string,
    predicate: (obj: JsonObject) => boolean,
    timeoutMs = 10_000,
    description = 'a matching object',
  ): Promise<JsonObject> {
    const def = resolveResource(this.defs, resource);
    const key = resourceKey(def);
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (const obj of this.bucket(def).values()) {
          if (predicate(obj)) {
            finish();
            resolve(clone(obj));
            return true;
          }
        }
        return false;
      };
      const onChange = (changed: string) => {
        if (changed === key) check();
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(
            `fake kube-apiserver: timed out after ${timeoutMs}ms waiting for ${description} in ${key}`,
          ),
        );
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.changes.off('change', onChange);
      };
      this.changes.on('change', onChange);
      check();
    });
  }

  /** Resolve with the first recorded request matching `predicate`: one already made, or the next answered. */
  waitForRequest(predicate: (r: RecordedRequest) => boolean, timeoutMs = 10_000): Promise<RecordedRequest> {
    return new Promise((resolve, reject) => {
      const found = this.requests.find(predicate);
      if (found) return resolve(found);
      const onRequest = (r: RecordedRequest) => {
        if (!predicate(r)) return;
        clearTimeout(timer);
        this.changes.off('request', onRequest);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.changes.off('request', onRequest);
        reject(new Error(`fake kube-apiserver: timed out after ${timeoutMs}ms waiting for a request`));
      }, timeoutMs);
      this.changes.on('request', onRequest);
    });
  }

  /** Open watch streams, optionally of one resource. */
  watchCount(resource?: string): number {
    const def = resource === undefined ? undefined : resolveResource(this.defs, resource);
    return [...this.watchers].filter((w) => def === undefined || w.def === def).length;
  }

  /** Resolve once at least `count` watches of `resource` are open. */
  async waitForWatches(resource: string, count = 1, timeoutMs = 10_000): Promise<void> {
    if (this.watchCount(resource) >= count) return;
    await new Promise<void>((resolve, reject) => {
      const onWatch = () => {
        if (this.watchCount(resource) < count) return;
        clearTimeout(timer);
        this.changes.off('watch', onWatch);
        resolve();
      };
      const timer = setTimeout(() => {
        this.changes.off('watch', onWatch);
        reject(new Error(`fake kube-apiserver: timed out waiting for ${count} watch(es) of ${resource}`));
      }, timeoutMs);
      this.changes.on('watch', onWatch);
    });
  }

  // ---- test controls ----

  /** Answer matching requests with an error (or reset their connection) until the handle is cleared. */
  fail(rule: FailureRule): FailureHandle {
    const active: ActiveRule = { ...rule, hits: 0, active: true };
    this.rules.push(active);
    return {
      get hits() {
        return active.hits;
      },
      clear: () => {
        active.active = false;
      },
    };
  }

  clearFailures(): void {
    for (const rule of this.rules) rule.active = false;
    this.rules.length = 0;
  }

  /** End every open watch stream: cleanly (the client sees EOF) or abruptly (sockets destroyed). */
  dropWatches(options: { abrupt?: boolean; resource?: string } = {}): number {
    const def = options.resource === undefined ? undefined : resolveResource(this.defs, options.resource);
    let dropped = 0;
    for (const w of [...this.watchers]) {
      if (def !== undefined && w.def !== def) continue;
      this.endWatch(w, options.abrupt ?? false);
      dropped++;
    }
    return dropped;
  }

  /** Forget the watch history, as etcd compaction does: watches from any older rv now get 410 Gone. */
  compactHistory(): void {
    this.history = [];
    this.historyStart = this.rv;
  }

  /** Send a BOOKMARK with the current resourceVersion to every watch that allows bookmarks. */
  sendBookmarks(): void {
    for (const w of this.watchers) {
      if (w.bookmarks) this.writeEvent(w, 'BOOKMARK', this.bookmarkObject(w.def));
    }
  }

  /** Close the listener and destroy every connection: clients get ECONNREFUSED / ECONNRESET. */
  async goUnreachable(): Promise<void> {
    if (!this.reachable) return;
    this.reachable = false;
    for (const w of [...this.watchers]) this.endWatch(w, true);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await closed;
  }

  /** Listen again on the same port. */
  async goReachable(): Promise<void> {
    if (this.reachable || this.closed) return;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.reachable = true;
  }

  /** A kubeconfig (YAML) for this server: plain http, which client-node 1.x accepts only with skip-verify. */
  kubeconfig(namespace = 'default'): string {
    const user: JsonObject = this.token === null ? {} : { token: this.token };
    return toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'fake',
          cluster: this.options.tls
            ? {
                server: this.url,
                'certificate-authority-data': Buffer.from(this.options.tls.ca).toString('base64'),
              }
            : { server: this.url, 'insecure-skip-tls-verify': true },
        },
      ],
      users: [{ name: 'fake', user }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace } }],
      'current-context': 'fake',
    });
  }

  /** Write the kubeconfig to `file`, or to a temporary file removed by close(); returns its path. */
  async writeKubeconfig(file?: string, namespace = 'default'): Promise<string> {
    let path = file;
    if (path === undefined) {
      const dir = await mkdtemp(join(tmpdir(), 'fake-kube-'));
      this.tempDirs.push(dir);
      path = join(dir, 'kubeconfig');
    }
    await writeFile(path, this.kubeconfig(namespace), { mode: 0o600 });
    return path;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    for (const w of [...this.watchers]) this.endWatch(w, true);
    if (this.reachable) {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const socket of this.sockets) socket.destroy();
      this.server.closeAllConnections();
      await closed;
    }
    this.reachable = false;
    await Promise.all(this.tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    const record: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query, status: 0 };
    if (req.headers['user-agent'] !== undefined) record.userAgent = req.headers['user-agent'];
    // Recorded on arrival (status 0 while in flight, or if reset) and announced again once answered.
    this.requests.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    res.on('close', () => this.changes.emit('request', record));

    const certified = (req.socket as Partial<TLSSocket>).authorized === true;
    if (this.token !== null && !certified && req.headers.authorization !== `Bearer ${this.token}`) {
      return this.sendStatus(res, new KubeStatusError(401, 'Unauthorized', 'Unauthorized'));
    }
    if (req.method === 'GET' && /^\/(version|healthz|livez|readyz)\/?$/.test(url.pathname)) {
      if (url.pathname.startsWith('/version')) {
        return this.send(res, 200, {
          major: '1',
          minor: '33',
          gitVersion: 'v1.33.0-fake',
          platform: 'linux/amd64',
        });
      }
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      return;
    }
    const parsed = parsePath(url.pathname, this.defs);
    if (!parsed.ok) return this.sendStatus(res, new KubeStatusError(404, 'NotFound', parsed.reason));
    const path = parsed.path;
    const watch = path.watchPrefix || query.watch === 'true' || query.watch === '1';
    const verb = this.verbOf(req.method ?? 'GET', path, watch);
    if (verb === undefined) {
      return this.sendStatus(
        res,
        new KubeStatusError(
          405,
          'MethodNotAllowed',
          `the server does not allow this method on the requested resource`,
        ),
      );
    }
    record.verb = verb;
    record.resource = resourceKey(path.def) + (path.subresource ? `/${path.subresource}` : '');
    if (path.namespace !== undefined) record.namespace = path.namespace;
    if (path.name !== undefined) record.name = path.name;

    const rule = this.matchRule(verb, path);
    if (rule !== undefined) {
      if (rule.status === 'reset') {
        req.socket.destroy();
        return;
      }
      if (rule.status === 'hang') return;
      return this.sendStatus(res, this.injectedError(rule, verb, path));
    }

    try {
      let body: Json | undefined;
      if (
        req.method === 'POST' ||
        req.method === 'PUT' ||
        req.method === 'PATCH' ||
        req.method === 'DELETE'
      ) {
        body = await this.readBody(req);
      }
      if (path.subresource !== undefined && path.subresource !== 'status') {
        throw new KubeStatusError(404, 'NotFound', `the server could not find the requested resource`);
      }
      switch (verb) {
        case 'watch':
          return this.startWatch(res, path, query);
        case 'list':
          return this.send(res, 200, this.listResponse(path, query));
        case 'get':
          return this.send(res, 200, this.mustGet(path.def, path.namespace, path.name as string));
        case 'create':
          return this.send(res, 201, this.httpCreate(path, body));
        case 'update':
          return this.send(res, 200, this.httpUpdate(path, body));
        case 'patch':
          return this.send(res, 200, this.httpPatch(path, body, String(req.headers['content-type'] ?? '')));
        case 'delete':
          return this.send(res, 200, this.httpDelete(path, body));
        case 'deletecollection':
          return this.send(res, 200, this.httpDeleteCollection(path, query));
      }
    } catch (err) {
      if (err instanceof KubeStatusError) return this.sendStatus(res, err);
      if (err instanceof PatchError) {
        return this.sendStatus(
          res,
          new KubeStatusError(err.code, REASONS[err.code] ?? 'BadRequest', err.message),
        );
      }
      throw err;
    }
  }

  private verbOf(method: string, path: ParsedPath, watch: boolean): Verb | undefined {
    const item = path.name !== undefined;
    switch (method) {
      case 'GET':
        return watch ? 'watch' : item ? 'get' : 'list';
      case 'POST':
        return item || (path.def.namespaced && path.namespace === undefined) ? undefined : 'create';
      case 'PUT':
        return item ? 'update' : undefined;
      case 'PATCH':
        return item ? 'patch' : undefined;
      case 'DELETE':
        return item ? 'delete' : 'deletecollection';
      default:
        return undefined;
    }
  }

  private matchRule(verb: Verb, path: ParsedPath): ActiveRule | undefined {
    for (const rule of this.rules) {
      if (!rule.active) continue;
      if (rule.verb !== undefined) {
        const verbs: readonly Verb[] = typeof rule.verb === 'string' ? [rule.verb] : rule.verb;
        if (!verbs.includes(verb)) continue;
      }
      if (rule.resource !== undefined) {
        const [res, sub] = rule.resource.split('/');
        const def = resolveResource(this.defs, res as string);
        if (def !== path.def || sub !== path.subresource) continue;
      }
      if (rule.namespace !== undefined && rule.namespace !== path.namespace) continue;
      if (rule.name !== undefined && rule.name !== path.name) continue;
      rule.hits++;
      if (rule.times !== undefined && rule.hits >= rule.times) rule.active = false;
      return rule;
    }
    return undefined;
  }

  private injectedError(rule: FailureRule, verb: Verb, path: ParsedPath): KubeStatusError {
    const code = rule.status as number;
    const key = resourceKey(path.def);
    const details: JsonObject = { group: path.def.group, kind: path.def.plural };
    if (path.name !== undefined) details.name = path.name;
    if (code === 403) {
      // Worded as the real RBAC authorizer does, so clients can show the missing permission.
      const resource = path.def.plural + (path.subresource ? `/${path.subresource}` : '');
      const scope =
        path.namespace !== undefined ? `in the namespace "${path.namespace}"` : 'at the cluster scope';
      const subject = path.name !== undefined ? `${key} "${path.name}"` : key;
      const message =
        rule.message ??
        `${subject} is forbidden: User "${this.user}" cannot ${verb} resource "${resource}" in API group "${path.def.group}" ${scope}`;
      return new KubeStatusError(403, 'Forbidden', message, details);
    }
    if (code === 401) return new KubeStatusError(401, 'Unauthorized', rule.message ?? 'Unauthorized');
    const reason = REASONS[code] ?? 'InternalError';
    const message =
      rule.message ??
      (code >= 500 ? `Internal error occurred: injected failure (${verb} ${key})` : `injected failure`);
    return new KubeStatusError(code, reason, message, details);
  }

  private async readBody(req: IncomingMessage): Promise<Json | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY)
        throw new KubeStatusError(413, 'RequestEntityTooLarge', 'request entity too large');
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as Json;
    } catch (err) {
      throw new KubeStatusError(
        400,
        'BadRequest',
        `the request body is not valid JSON: ${(err as Error).message}`,
      );
    }
  }

  private send(res: ServerResponse, code: number, body: JsonObject): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private sendStatus(res: ServerResponse, err: KubeStatusError): void {
    this.send(res, err.code, err.toStatus());
  }

  // ---- verbs ----

  private listResponse(path: ParsedPath, query: Record<string, string>): JsonObject {
    const labels = parseLabelSelector(query.labelSelector);
    if (!labels.ok) throw new KubeStatusError(400, 'BadRequest', labels.message);
    const fields = parseFieldSelector(query.fieldSelector, resourceKey(path.def));
    if (!fields.ok) throw new KubeStatusError(400, 'BadRequest', fields.message);
    let items = this.select(path.def, path.namespace, (o) => labels.match(o) && fields.match(o));
    const listMeta: JsonObject = { resourceVersion: String(this.rv) };
    // Paging: `continue` is an opaque offset into the (sorted) result.
    const offset = query.continue ? Number(Buffer.from(query.continue, 'base64url').toString()) : 0;
    if (!Number.isInteger(offset) || offset < 0)
      throw new KubeStatusError(400, 'BadRequest', 'invalid continue token');
    const limit = query.limit ? Number(query.limit) : 0;
    items = items.slice(offset);
    if (limit > 0 && items.length > limit) {
      listMeta.continue = Buffer.from(String(offset + limit)).toString('base64url');
      listMeta.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    // Like the real API, list items carry no kind/apiVersion: the list says it once.
    const bare = items.map((o) => {
      const copy = clone(o);
      delete copy.kind;
      delete copy.apiVersion;
      return copy;
    });
    return {
      kind: `${path.def.kind}List`,
      apiVersion: apiVersionOf(path.def),
      metadata: listMeta,
      items: bare,
    };
  }

  private httpCreate(path: ParsedPath, body: Json | undefined): JsonObject {
    const obj = this.objectBody(body);
    if (path.subresource !== undefined)
      throw new KubeStatusError(405, 'MethodNotAllowed', 'cannot create a subresource');
    const given = str(meta(obj).namespace);
    if (path.def.namespaced && given !== undefined && given !== path.namespace) {
      throw new KubeStatusError(
        400,
        'BadRequest',
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    if (meta(obj).resourceVersion !== undefined && meta(obj).resourceVersion !== '') {
      throw new KubeStatusError(
        500,
        'InternalError',
        'resourceVersion should not be set on objects to be created',
      );
    }
    return this.doCreate(path.def, path.namespace, obj);
  }

  private httpUpdate(path: ParsedPath, body: Json | undefined): JsonObject {
    const obj = this.objectBody(body);
    const name = path.name as string;
    const bodyName = str(meta(obj).name);
    if (bodyName !== undefined && bodyName !== name) {
      throw new KubeStatusError(
        400,
        'BadRequest',
        `the name of the object (${bodyName}) does not match the name on the URL (${name})`,
      );
    }
    const current = this.mustGet(path.def, path.namespace, name);
    let next = obj;
    if (path.subresource === 'status') {
      next = clone(current);
      next.status = obj.status ?? null;
      meta(next).resourceVersion = meta(obj).resourceVersion ?? null;
    }
    return this.doUpdate(path.def, current, next, true);
  }

  private httpPatch(path: ParsedPath, body: Json | undefined, contentType: string): JsonObject {
    const current = this.mustGet(path.def, path.namespace, path.name as string);
    const type = contentType.split(';')[0]?.trim() ?? '';
    if (body === undefined) throw new KubeStatusError(400, 'BadRequest', 'the PATCH body is empty');
    let next: JsonObject;
    if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') {
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new KubeStatusError(400, 'BadRequest', 'a merge patch must be a JSON object');
      }
      next = mergePatch(current, body) as JsonObject;
    } else if (type === 'application/json-patch+json') {
      next = jsonPatch(current, body) as JsonObject;
    } else {
      throw new KubeStatusError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got "${contentType}")`,
      );
    }
    if (path.subresource === 'status') {
      const statusOnly = clone(current);
      statusOnly.status = next.status ?? null;
      meta(statusOnly).resourceVersion = meta(next).resourceVersion ?? null;
      next = statusOnly;
    }
    // A resourceVersion left in the patched object is a precondition, as with PUT.
    return this.doUpdate(path.def, current, next, true);
  }

  private httpDelete(path: ParsedPath, body: Json | undefined): JsonObject {
    const current = this.mustGet(path.def, path.namespace, path.name as string);
    if (body !== undefined && body !== null && typeof body === 'object' && !Array.isArray(body)) {
      const pre = body.preconditions;
      if (pre !== null && typeof pre === 'object' && !Array.isArray(pre)) {
        const m = meta(current);
        if (typeof pre.uid === 'string' && pre.uid !== m.uid) {
          throw this.conflict(
            path.def,
            path.name as string,
            `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${str(m.uid)}`,
          );
        }
        if (typeof pre.resourceVersion === 'string' && pre.resourceVersion !== m.resourceVersion) {
          throw this.conflict(
            path.def,
            path.name as string,
            `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${str(m.resourceVersion)}`,
          );
        }
      }
    }
    const deleted = this.doDelete(path.def, current);
    // Pods answer with the object; most resources answer with a Success Status.
    if (path.def.plural === 'pods') return deleted;
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: {
        name: path.name as string,
        group: path.def.group,
        kind: path.def.plural,
        uid: meta(deleted).uid ?? null,
      },
    };
  }

  private httpDeleteCollection(path: ParsedPath, query: Record<string, string>): JsonObject {
    const list = this.listResponse(path, { ...query, limit: '', continue: '' });
    for (const obj of this.select(path.def, path.namespace, () => true)) {
      const m = meta(obj);
      const inList = (list.items as JsonObject[]).some(
        (i) => meta(i).name === m.name && meta(i).namespace === m.namespace,
      );
      if (inList) this.doDelete(path.def, obj);
    }
    return list;
  }

  private startWatch(res: ServerResponse, path: ParsedPath, query: Record<string, string>): void {
    const labels = parseLabelSelector(query.labelSelector);
    if (!labels.ok) throw new KubeStatusError(400, 'BadRequest', labels.message);
    let fieldText = query.fieldSelector ?? '';
    if (path.name !== undefined)
      fieldText = [fieldText, `metadata.name=${path.name}`].filter(Boolean).join(',');
    const fields = parseFieldSelector(fieldText, resourceKey(path.def));
    if (!fields.ok) throw new KubeStatusError(400, 'BadRequest', fields.message);
    const rvParam = query.resourceVersion ?? '';
    const from = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (from !== undefined && !(Number.isInteger(from) && from >= 0)) {
      throw new KubeStatusError(400, 'BadRequest', `invalid resource version: ${rvParam}`);
    }

    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    // Headers go out now: clients wait for them before they consider the watch established.
    res.flushHeaders();
    const watcher: Watcher = {
      def: path.def,
      labels: labels.match,
      fields: fields.match,
      bookmarks: query.allowWatchBookmarks === 'true' || query.allowWatchBookmarks === '1',
      res,
    };
    if (path.namespace !== undefined) watcher.namespace = path.namespace;

    if (from !== undefined && from < this.historyStart) {
      const expired = new KubeStatusError(
        410,
        'Expired',
        `too old resource version: ${from} (${this.historyStart + 1})`,
      );
      res.end(`${JSON.stringify({ type: 'ERROR', object: expired.toStatus() })}\n`);
      return;
    }
    if (from === undefined) {
      // No resourceVersion: the current state as synthetic ADDED events, then changes.
      for (const obj of this.select(path.def, path.namespace, (o) => labels.match(o) && fields.match(o))) {
        this.writeEvent(watcher, 'ADDED', obj);
      }
      if (query.sendInitialEvents === 'true' && watcher.bookmarks) {
        const mark = this.bookmarkObject(path.def);
        meta(mark).annotations = { 'k8s.io/initial-events-end': 'true' };
        this.writeEvent(watcher, 'BOOKMARK', mark);
      }
    } else {
      for (const entry of this.history) {
        if (entry.rv > from) this.deliver(watcher, entry);
      }
    }
    this.watchers.add(watcher);
    const timeout = Number(query.timeoutSeconds ?? 0);
    if (timeout > 0) watcher.timer = setTimeout(() => this.endWatch(watcher, false), timeout * 1000);
    res.on('close', () => {
      if (watcher.timer) clearTimeout(watcher.timer);
      this.watchers.delete(watcher);
    });
    this.changes.emit('watch');
  }

  private endWatch(w: Watcher, abrupt: boolean): void {
    if (w.timer) clearTimeout(w.timer);
    this.watchers.delete(w);
    if (abrupt) w.res.socket?.destroy();
    else w.res.end();
  }

  private deliver(w: Watcher, entry: HistoryEntry): void {
    if (resourceKey(w.def) !== entry.key) return;
    const ns = str(meta(entry.object).namespace);
    if (w.namespace !== undefined && ns !== w.namespace) return;
    const matches = (o: JsonObject | undefined) => o !== undefined && w.labels(o) && w.fields(o);
    const now = matches(entry.object);
    if (entry.type === 'DELETED') {
      if (now) this.writeEvent(w, 'DELETED', entry.object);
      return;
    }
    const before = entry.type === 'MODIFIED' && matches(entry.prev);
    // A change that moves an object into or out of the selection reads as ADDED / DELETED to the watcher.
    if (before && now) this.writeEvent(w, 'MODIFIED', entry.object);
    else if (now) this.writeEvent(w, 'ADDED', entry.object);
    else if (before) this.writeEvent(w, 'DELETED', entry.object);
  }

  private writeEvent(w: Watcher, type: WatchEventType, object: JsonObject): void {
    if (w.res.writableEnded || w.res.destroyed) return;
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  private bookmarkObject(def: ResourceDef): JsonObject {
    return { kind: def.kind, apiVersion: apiVersionOf(def), metadata: { resourceVersion: String(this.rv) } };
  }

  // ---- the store ----

  private bucket(def: ResourceDef): Map<string, JsonObject> {
    const key = resourceKey(def);
    let bucket = this.store.get(key);
    if (bucket === undefined) {
      bucket = new Map();
      this.store.set(key, bucket);
    }
    return bucket;
  }

  private itemKey(def: ResourceDef, namespace: string | undefined, name: string): string {
    return def.namespaced ? `${namespace ?? 'default'}/${name}` : name;
  }

  private select(def: ResourceDef, namespace: string | undefined, match: Matcher): JsonObject[] {
    return [...this.bucket(def).entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, obj]) => obj)
      .filter((obj) => (namespace === undefined || meta(obj).namespace === namespace) && match(obj));
  }

  private mustGet(def: ResourceDef, namespace: string | undefined, name: string): JsonObject {
    const obj = this.bucket(def).get(this.itemKey(def, namespace, name));
    if (obj === undefined) {
      throw new KubeStatusError(404, 'NotFound', `${resourceKey(def)} "${name}" not found`, {
        name,
        group: def.group,
        kind: def.plural,
      });
    }
    return obj;
  }

  private conflict(def: ResourceDef, name: string, message: string): KubeStatusError {
    return new KubeStatusError(409, 'Conflict', message, { name, group: def.group, kind: def.plural });
  }

  private objectBody(body: Json | undefined): JsonObject {
    if (body === null || body === undefined || typeof body !== 'object' || Array.isArray(body)) {
      throw new KubeStatusError(400, 'BadRequest', 'the request body must be a JSON object');
    }
    return body;
  }

  private doCreate(def: ResourceDef, namespace: string | undefined, obj: JsonObject): JsonObject {
    const m = meta(obj);
    let name = str(m.name);
    if ((name === undefined || name === '') && typeof m.generateName === 'string' && m.generateName !== '') {
      name = m.generateName + randomBytes(4).toString('hex').slice(0, 5);
    }
    if (name === undefined || name === '') {
      throw new KubeStatusError(
        422,
        'Invalid',
        `${def.kind}${def.group ? `.${def.group}` : ''} "" is invalid: metadata.name: Required value: name or generateName is required`,
      );
    }
    const ns = def.namespaced ? (namespace ?? str(m.namespace) ?? 'default') : undefined;
    const bucket = this.bucket(def);
    const key = this.itemKey(def, ns, name);
    if (bucket.has(key)) {
      throw new KubeStatusError(409, 'AlreadyExists', `${resourceKey(def)} "${name}" already exists`, {
        name,
        group: def.group,
        kind: def.plural,
      });
    }
    obj.apiVersion = apiVersionOf(def);
    obj.kind = def.kind;
    m.name = name;
    if (ns !== undefined) m.namespace = ns;
    else delete m.namespace;
    m.uid = randomUUID();
    m.creationTimestamp = nowTimestamp();
    m.generation = 1;
    m.resourceVersion = String(++this.rv);
    bucket.set(key, obj);
    this.commit(def, 'ADDED', obj);
    return obj;
  }

  /** Replace `current` by `next`; with `checkRv`, a stale resourceVersion in `next` is a 409 Conflict. */
  private doUpdate(def: ResourceDef, current: JsonObject, next: JsonObject, checkRv: boolean): JsonObject {
    const cur = meta(current);
    const m = meta(next);
    const name = str(cur.name) as string;
    const given = m.resourceVersion;
    if (checkRv && given !== undefined && given !== null && given !== '' && given !== cur.resourceVersion) {
      throw this.conflict(
        def,
        name,
        `Operation cannot be fulfilled on ${resourceKey(def)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    // Identity and server-owned fields cannot change through an update.
    next.apiVersion = apiVersionOf(def);
    next.kind = def.kind;
    m.name = cur.name ?? null;
    if (cur.namespace !== undefined) m.namespace = cur.namespace;
    m.uid = cur.uid ?? null;
    m.creationTimestamp = cur.creationTimestamp ?? null;
    m.generation = cur.generation ?? 1;
    m.resourceVersion = cur.resourceVersion ?? null;
    if (canonical(next.spec) !== canonical(current.spec)) {
      m.generation = Number(cur.generation ?? 1) + 1;
    }
    // A no-op update keeps the resourceVersion and sends no watch event, as the real API does.
    if (withoutVolatile(next) === withoutVolatile(current)) return current;
    m.resourceVersion = String(++this.rv);
    this.bucket(def).set(this.itemKey(def, str(m.namespace), name), next);
    this.commit(def, 'MODIFIED', next, current);
    return next;
  }

  private doDelete(def: ResourceDef, current: JsonObject): JsonObject {
    const m = meta(current);
    this.bucket(def).delete(this.itemKey(def, str(m.namespace), str(m.name) as string));
    const gone = clone(current);
    meta(gone).resourceVersion = String(++this.rv);
    this.commit(def, 'DELETED', gone);
    return gone;
  }

  private commit(def: ResourceDef, type: HistoryEntry['type'], object: JsonObject, prev?: JsonObject): void {
    const entry: HistoryEntry = { rv: this.rv, key: resourceKey(def), type, object: clone(object) };
    if (prev !== undefined) entry.prev = clone(prev);
    this.history.push(entry);
    while (this.history.length > this.historyLimit) {
      const dropped = this.history.shift() as HistoryEntry;
      this.historyStart = dropped.rv;
    }
    for (const w of this.watchers) this.deliver(w, entry);
    this.changes.emit('change', entry.key);
  }
}
