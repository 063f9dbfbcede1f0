// Label and field selectors as the kube-apiserver parses them. A selector that does not parse is a
// 400 BadRequest there, so parsing returns an error message instead of matching nothing.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type Matcher = (obj: JsonObject) => boolean;
export type SelectorResult = { ok: true; match: Matcher } | { ok: false; message: string };

const always: Matcher = () => true;

/** Split on commas that are not inside `( … )`, as in `env in (a,b),tier`. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

const LABEL_KEY = /^([a-z0-9A-Z]([\w.-]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([\w.-]*[a-z0-9A-Z])?$/;

function labelsOf(obj: JsonObject): Record<string, string> {
  const meta = obj.metadata;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return {};
  const labels = meta.labels;
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a` (exists), `!a` (does not exist). */
export function parseLabelSelector(text: string | null | undefined): SelectorResult {
  if (text === null || text === undefined || text.trim() === '') return { ok: true, match: always };
  const tests: ((labels: Record<string, string>) => boolean)[] = [];
  for (const term of splitTerms(text)) {
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term))) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      if (!LABEL_KEY.test(key)) return bad(`invalid label key "${key}"`);
      const values = new Set(list.split(',').map((v) => v.trim()));
      tests.push(
        op === 'in' ? (l) => key in l && values.has(l[key]!) : (l) => !(key in l && values.has(l[key]!)),
      );
    } else if ((m = /^([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)$/.exec(term))) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      if (!LABEL_KEY.test(key)) return bad(`invalid label key "${key}"`);
      tests.push(op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value);
    } else if ((m = /^!\s*(\S+)$/.exec(term))) {
      const key = m[1] as string;
      if (!LABEL_KEY.test(key)) return bad(`invalid label key "${key}"`);
      tests.push((l) => !(key in l));
    } else if (LABEL_KEY.test(term)) {
      tests.push((l) => term in l);
    } else {
      return bad(`unable to parse requirement: "${term}"`);
    }
  }
  return { ok: true, match: (obj) => tests.every((t) => t(labelsOf(obj))) };
}

/** Fields each resource can be selected on (the real API refuses any other with 400). */
const FIELDS: Record<string, readonly string[]> = {
  pods: [
    'spec.nodeName',
    'status.phase',
    'spec.schedulerName',
    'spec.restartPolicy',
    'spec.serviceAccountName',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  events: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  'events.events.k8s.io': [
    'regarding.kind',
    'regarding.namespace',
    'regarding.name',
    'regarding.uid',
    'reason',
    'type',
    'reportingController',
  ],
  nodes: ['spec.unschedulable'],
  namespaces: ['status.phase'],
};

function fieldValue(obj: JsonObject, path: string): string {
  let cur: Json | undefined = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return '';
    cur = cur[part];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

/** `field=value`, `field==value`, `field!=value`, comma-separated; a missing field reads as ''. */
export function parseFieldSelector(text: string | null | undefined, resource: string): SelectorResult {
  if (text === null || text === undefined || text.trim() === '') return { ok: true, match: always };
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...(FIELDS[resource] ?? [])]);
  const tests: Matcher[] = [];
  for (const term of splitTerms(text)) {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) return bad(`invalid selector: '${term}'; can't understand '${term}'`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (!allowed.has(field)) return bad(`field label not supported: ${field}`);
    tests.push(op === '!=' ? (o) => fieldValue(o, field) !== value : (o) => fieldValue(o, field) === value);
  }
  return { ok: true, match: (obj) => tests.every((t) => t(obj)) };
}

function bad(message: string): SelectorResult {
  return { ok: false, message };
}
