// Does a DaemonSet's pod belong on this node? Decided as the DaemonSet controller does for a new pod:
// spec.nodeName, nodeSelector, required node affinity, and the node's NoSchedule/NoExecute taints
// against the pod's tolerations plus the ones the controller adds to every DaemonSet pod. Pure: no I/O.
import type {
  V1Node,
  V1NodeSelectorRequirement,
  V1NodeSelectorTerm,
  V1PodSpec,
  V1Taint,
  V1Toleration,
} from '@kubernetes/client-node';

export type Placement = { belongs: true } | { belongs: false; why: string };

/** Tolerations the DaemonSet controller adds to each of its pods (so node trouble never evicts them). */
export function daemonSetTolerations(hostNetwork: boolean): V1Toleration[] {
  const exists = (key: string, effect: 'NoSchedule' | 'NoExecute'): V1Toleration => ({
    key: `node.kubernetes.io/${key}`,
    operator: 'Exists',
    effect,
  });
  const tolerations = [
    exists('not-ready', 'NoExecute'),
    exists('unreachable', 'NoExecute'),
    exists('disk-pressure', 'NoSchedule'),
    exists('memory-pressure', 'NoSchedule'),
    exists('pid-pressure', 'NoSchedule'),
    exists('unschedulable', 'NoSchedule'),
  ];
  if (hostNetwork) tolerations.push(exists('network-unavailable', 'NoSchedule'));
  return tolerations;
}

/** Where a DaemonSet's pod template would place a pod, for the node given. */
export function placement(spec: V1PodSpec | undefined, node: V1Node): Placement {
  const nodeName = node.metadata?.name ?? '';
  const labels = node.metadata?.labels ?? {};
  if (spec?.nodeName && spec.nodeName !== nodeName) {
    return { belongs: false, why: `spec.nodeName is ${spec.nodeName}` };
  }
  for (const [key, value] of Object.entries(spec?.nodeSelector ?? {})) {
    if (labels[key] !== value) {
      const has = key in labels ? `the node has ${key}=${labels[key]}` : `the node has no label ${key}`;
      return { belongs: false, why: `nodeSelector ${key}=${value}: ${has}` };
    }
  }
  const required = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required !== undefined && required !== null) {
    const terms = required.nodeSelectorTerms ?? [];
    if (!terms.some((term) => termMatches(term, labels, nodeName))) {
      return { belongs: false, why: `required node affinity: no term matches (${describeTerms(terms)})` };
    }
  }
  const tolerations = [...(spec?.tolerations ?? []), ...daemonSetTolerations(spec?.hostNetwork === true)];
  for (const taint of node.spec?.taints ?? []) {
    // PreferNoSchedule is a preference: the DaemonSet controller places its pod regardless.
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerations.some((t) => tolerates(t, taint))) {
      return { belongs: false, why: `taint ${describeTaint(taint)} is not tolerated` };
    }
  }
  return { belongs: true };
}

/** The rule of core/v1 Toleration: effect (empty = any), key (empty = any, with Exists), value. */
export function tolerates(toleration: V1Toleration, taint: V1Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  switch (toleration.operator ?? 'Equal') {
    case 'Exists':
      return true;
    case 'Equal':
    case '':
      // An empty key only means "every key" with Exists.
      if (!toleration.key) return false;
      return (toleration.value ?? '') === (taint.value ?? '');
    default:
      return false;
  }
}

/** A term matches when all its expressions and fields do; an empty term matches nothing. */
function termMatches(term: V1NodeSelectorTerm, labels: Record<string, string>, nodeName: string): boolean {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (expressions.length === 0 && fields.length === 0) return false;
  return (
    expressions.every((r) => requirementMatches(r, labels[r.key])) &&
    fields.every((r) => r.key === 'metadata.name' && fieldMatches(r, nodeName))
  );
}

function requirementMatches(r: V1NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      // Both sides must be integers, and exactly one value is given; otherwise the term cannot match.
      if (value === undefined || values.length !== 1 || !isInteger(value) || !isInteger(values[0]!)) {
        return false;
      }
      const [label, bound] = [BigInt(value), BigInt(values[0]!)];
      return r.operator === 'Gt' ? label > bound : label < bound;
    }
    default:
      return false;
  }
}

/** matchFields supports In and NotIn with a single value, on metadata.name only. */
function fieldMatches(r: V1NodeSelectorRequirement, nodeName: string): boolean {
  const values = r.values ?? [];
  if (values.length !== 1) return false;
  if (r.operator === 'In') return values[0] === nodeName;
  if (r.operator === 'NotIn') return values[0] !== nodeName;
  return false;
}

const isInteger = (s: string) => /^-?\d+$/.test(s);

function describeTerms(terms: V1NodeSelectorTerm[]): string {
  if (terms.length === 0) return 'no terms';
  return terms
    .map(
      (t) =>
        [...(t.matchExpressions ?? []), ...(t.matchFields ?? [])]
          .map((r) => `${r.key} ${r.operator}${r.values?.length ? ` ${r.values.join(',')}` : ''}`)
          .join(' and ') || 'empty term',
    )
    .join(' | ');
}

function describeTaint(taint: V1Taint): string {
  return `${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect}`;
}
