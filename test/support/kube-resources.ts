// The resources the fake kube-apiserver serves, and how a request path maps onto them. Paths follow the
// real API exactly: /api/v1/… for the core group, /apis/GROUP/VERSION/… for the others, namespaced
// objects under namespaces/NS/PLURAL[/NAME[/status]], cluster-wide lists at PLURAL.

export interface ResourceDef {
  /** API group; '' for the core group. */
  group: string;
  version: string;
  /** Plural lower-case name as in the URL and in RBAC rules. */
  plural: string;
  kind: string;
  namespaced: boolean;
}

/** `plural` for the core group, `plural.group` otherwise: the name RBAC and kubectl use. */
export function resourceKey(def: ResourceDef): string {
  return def.group === '' ? def.plural : `${def.plural}.${def.group}`;
}

export function apiVersionOf(def: ResourceDef): string {
  return def.group === '' ? def.version : `${def.group}/${def.version}`;
}

const core = (plural: string, kind: string, namespaced = true): ResourceDef => ({
  group: '',
  version: 'v1',
  plural,
  kind,
  namespaced,
});

export const DEFAULT_RESOURCES: readonly ResourceDef[] = [
  core('pods', 'Pod'),
  core('nodes', 'Node', false),
  core('namespaces', 'Namespace', false),
  core('events', 'Event'),
  core('configmaps', 'ConfigMap'),
  core('services', 'Service'),
  core('endpoints', 'Endpoints'),
  core('serviceaccounts', 'ServiceAccount'),
  core('secrets', 'Secret'),
  { group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet', namespaced: true },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  { group: 'apps', version: 'v1', plural: 'replicasets', kind: 'ReplicaSet', namespaced: true },
  { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', namespaced: true },
  { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'mutatingwebhookconfigurations',
    kind: 'MutatingWebhookConfiguration',
    namespaced: false,
  },
];

export interface ParsedPath {
  def: ResourceDef;
  /** Namespace from the URL; undefined for cluster-scoped resources and cluster-wide lists. */
  namespace?: string;
  name?: string;
  subresource?: string;
  /** The deprecated /watch/ path prefix was used. */
  watchPrefix: boolean;
}

export type PathResult = { ok: true; path: ParsedPath } | { ok: false; reason: string };

/** Map a URL path onto a resource, or say why it names none (the caller answers 404). */
export function parsePath(pathname: string, defs: readonly ResourceDef[]): PathResult {
  const segs = pathname.split('/').filter((s) => s !== '');
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 2) {
    group = '';
    version = segs[1] as string;
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 3) {
    group = segs[1] as string;
    version = segs[2] as string;
    rest = segs.slice(3);
  } else {
    return { ok: false, reason: `the server could not find the requested resource (path ${pathname})` };
  }
  let watchPrefix = false;
  if (rest[0] === 'watch') {
    watchPrefix = true;
    rest = rest.slice(1);
  }
  const inGroup = defs.filter((d) => d.group === group && d.version === version);
  const find = (plural: string | undefined) => inGroup.find((d) => d.plural === plural);
  let namespace: string | undefined;
  let plural: string | undefined;
  let name: string | undefined;
  let subresource: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = decodeURIComponent(rest[1] as string);
    [plural, name, subresource] = rest.slice(2);
    if (rest.length > 5) return { ok: false, reason: `the server could not find the requested resource` };
  } else {
    [plural, name, subresource] = rest;
    if (rest.length > 3) return { ok: false, reason: `the server could not find the requested resource` };
  }
  const def = find(plural);
  if (def === undefined) return { ok: false, reason: `the server could not find the requested resource` };
  if (namespace !== undefined && !def.namespaced) {
    return { ok: false, reason: `the server could not find the requested resource` };
  }
  // A namespaced object is only addressed inside its namespace; PLURAL/NAME at the top is a 404.
  if (namespace === undefined && def.namespaced && name !== undefined) {
    return { ok: false, reason: `the server could not find the requested resource` };
  }
  const path: ParsedPath = { def, watchPrefix };
  if (namespace !== undefined) path.namespace = namespace;
  if (name !== undefined) path.name = decodeURIComponent(name);
  if (subresource !== undefined) path.subresource = subresource;
  return { ok: true, path };
}

/** Find a resource by `plural`, `plural.group` or Kind (first match: the core group wins). */
export function resolveResource(defs: readonly ResourceDef[], ref: string): ResourceDef {
  const def =
    defs.find((d) => resourceKey(d) === ref) ??
    defs.find((d) => d.plural === ref) ??
    defs.find((d) => d.kind === ref);
  if (def === undefined) throw new Error(`fake kube-apiserver: unknown resource "${ref}"`);
  return def;
}
