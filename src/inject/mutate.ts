// What to do with one pod: skip it, leave it, move the lock's init container first, or inject it.
// Pure: a pod and the settings in, a JSON Patch (RFC 6902) and the reason out. The API server filters
// with namespaceSelector, objectSelector and matchConditions; everything it can see on the pod is
// checked here again, so a hand-edited webhook configuration cannot make the webhook inject where it
// must not.
import { acquireSchema } from '../config/acquire.js';
import { parseValue } from '../config/options.js';
import type { Container } from './container.js';

export const INJECT_LABEL = 'startup-lock.io/inject';
export const NAMESPACE_ENABLED = 'enabled';

/** Per-pod settings, each mapped to the acquire flag it sets. */
export const POD_ANNOTATIONS = {
  'startup-lock.io/duration': { flag: '--duration', option: acquireSchema.duration },
  'startup-lock.io/timeout': { flag: '--timeout', option: acquireSchema.timeout },
  'startup-lock.io/fail-open-after': { flag: '--fail-open-after', option: acquireSchema.failOpenAfter },
} as const;

/** Outbound-port exclusions of the meshes that redirect init-container traffic. */
export const MESH_ANNOTATIONS = [
  'traffic.sidecar.istio.io/excludeOutboundPorts',
  'config.linkerd.io/skip-outbound-ports',
] as const;

/** Namespaces never injected, whatever their labels say. */
export const NEVER_NAMESPACES: readonly string[] = ['kube-system', 'kube-node-lease'];

// The library renders the flags in this order; annotations insert theirs at the same place, so an
// injected container equals what the library renders for the same settings.
const FLAG_ORDER = ['--port', '--duration', '--timeout', '--fail-open-after', '--token-file'];
// Whole seconds, as the library chart accepts them.

export type PatchOp = { op: 'add'; path: string; value: unknown } | { op: 'remove'; path: string };

export type Outcome = 'injected' | 'moved' | 'unchanged' | 'skipped';

export interface Decision {
  outcome: Outcome;
  /** Why a pod was skipped or left unchanged. */
  reason: string;
  patch: PatchOp[];
  /** Shown to the user by kubectl (AdmissionResponse.warnings), and logged. */
  warnings: string[];
}

export interface MutateSettings {
  container: Container;
  /** The webhook's own namespace: never injected. */
  ownNamespace: string;
  meshExcludePort: boolean;
}

type Json = Record<string, unknown>;

const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const stringMap = (v: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (isMap(v)) for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
};
/** JSON Pointer escaping of one path segment (RFC 6901). */
const pointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** Throws on a pod too malformed to patch; the caller allows it unchanged. */
export function decide(pod: unknown, namespace: string, settings: MutateSettings): Decision {
  if (!isMap(pod) || !isMap(pod.spec)) throw new TypeError('request.object is not a pod (no spec)');
  const metadata = isMap(pod.metadata) ? pod.metadata : {};
  const labels = stringMap(metadata.labels);
  const annotations = stringMap(metadata.annotations);
  const skip = (reason: string): Decision => ({ outcome: 'skipped', reason, patch: [], warnings: [] });

  if (NEVER_NAMESPACES.includes(namespace)) return skip(`namespace ${namespace} is never injected`);
  if (namespace === settings.ownNamespace) return skip("the webhook's own namespace");
  if (labels[INJECT_LABEL] === 'false') return skip(`label ${INJECT_LABEL}=false`);
  if (annotations['kubernetes.io/config.mirror'] !== undefined) return skip('mirror pod');
  const owners = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences : [];
  if (owners.some((o) => isMap(o) && o.kind === 'DaemonSet')) return skip('owned by a DaemonSet');

  const initContainers = pod.spec.initContainers ?? [];
  if (!Array.isArray(initContainers)) throw new TypeError('spec.initContainers is not a list');
  const name = settings.container.name;
  const at = initContainers.findIndex((c) => isMap(c) && c.name === name);

  const patch: PatchOp[] = [];
  const warnings: string[] = [];
  let outcome: Outcome;
  let reason = '';
  if (at === 0) {
    outcome = 'unchanged';
    reason = `init container ${name} is already first`;
  } else if (at > 0) {
    // Another injector (Istio, Vault) put its container before ours: move ours back to the front.
    outcome = 'moved';
    patch.push({ op: 'remove', path: `/spec/initContainers/${at}` });
    patch.push({ op: 'add', path: '/spec/initContainers/0', value: initContainers[at] });
  } else {
    outcome = 'injected';
    const container = withPodSettings(settings.container, annotations, warnings);
    patch.push(
      initContainers.length === 0
        ? { op: 'add', path: '/spec/initContainers', value: [container] }
        : { op: 'add', path: '/spec/initContainers/0', value: container },
    );
  }

  if (settings.meshExcludePort && outcome !== 'unchanged') {
    const port = flagValue(settings.container.args ?? [], '--port') ?? '8888';
    const added: Record<string, string> = {};
    for (const key of MESH_ANNOTATIONS) {
      const list = (annotations[key] ?? '')
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean);
      if (!list.includes(port)) added[key] = [...list, port].join(',');
    }
    if (Object.keys(added).length > 0) {
      if (!isMap(metadata.annotations)) {
        if (!isMap(pod.metadata)) patch.push({ op: 'add', path: '/metadata', value: {} });
        patch.push({ op: 'add', path: '/metadata/annotations', value: added });
      } else {
        for (const [key, value] of Object.entries(added)) {
          patch.push({ op: 'add', path: `/metadata/annotations/${pointer(key)}`, value });
        }
      }
    }
  }
  return { outcome, reason, patch, warnings };
}

/**
 * The container with the pod's annotations applied. A bad annotation is not applied: the pod is still
 * injected, with the chart's setting, and the caller returns the warning (kubectl prints it).
 */
function withPodSettings(
  base: Container,
  annotations: Record<string, string>,
  warnings: string[],
): Container {
  const container = structuredClone(base);
  let args = [...(container.args ?? [])];
  for (const [key, { flag, option }] of Object.entries(POD_ANNOTATIONS)) {
    const raw = annotations[key];
    if (raw === undefined) continue;
    const value = raw.trim();
    const parsed = parseValue(option, value);
    // --duration counts in whole seconds (as the server does); the others take any duration.
    const whole = !parsed.ok || flag !== '--duration' || (parsed.value as number) % 1000 === 0;
    if (!parsed.ok || !whole) {
      const allowed = parsed.ok ? 'whole seconds (30, 30s, 2m, 1h)' : parsed.allowed;
      // Short: the API server may truncate warnings longer than 120 characters.
      const shown = JSON.stringify(raw.length > 24 ? `${raw.slice(0, 24)}…` : raw);
      warnings.push(`annotation ${key}=${shown} ignored: expected ${allowed}`);
      continue;
    }
    args = setFlag(args, flag, value);
  }
  if (args.length > 0) container.args = args;
  return container;
}

/** Set `flag value` in args: in place when present, else where the library would render it. */
export function setFlag(args: readonly string[], flag: string, value: string): string[] {
  const out = [...args];
  const i = out.indexOf(flag);
  if (i >= 0 && i + 1 < out.length) {
    out[i + 1] = value;
    return out;
  }
  const later = FLAG_ORDER.slice(FLAG_ORDER.indexOf(flag) + 1);
  const before = out.findIndex((a) => later.includes(a));
  out.splice(before < 0 ? out.length : before, 0, flag, value);
  return out;
}

export function flagValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}
