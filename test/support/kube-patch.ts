// PATCH bodies the fake kube-apiserver understands: JSON merge patch (RFC 7386), strategic merge patch
// (applied as a merge patch: lists are replaced, not merged by key — enough for the objects we patch),
// and JSON patch (RFC 6902, which @kubernetes/client-node sends by default).
import type { Json, JsonObject } from './kube-selectors.js';

export class PatchError extends Error {
  constructor(
    message: string,
    /** HTTP status the API answers with: 422 for a failed test op, 400 for a malformed patch. */
    readonly code: number,
  ) {
    super(message);
    this.name = 'PatchError';
  }
}

const isObject = (v: Json | undefined): v is JsonObject =>
  v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v);

export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

interface Op {
  op: string;
  path: string;
  value?: Json;
  from?: string;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer "${path}"`, 400);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, parts: string[]): { parent: Json; key: string } {
  let cur: Json = doc;
  for (const part of parts.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(cur)
      ? cur[Number(part)]
      : isObject(cur)
        ? cur[part]
        : undefined;
    if (next === undefined) throw new PatchError(`doc is missing path: "/${parts.join('/')}"`, 422);
    cur = next;
  }
  return { parent: cur, key: parts[parts.length - 1] as string };
}

function getAt(doc: Json, path: string): Json {
  let cur: Json | undefined = doc;
  for (const part of pointer(path)) {
    cur = Array.isArray(cur) ? cur[Number(part)] : isObject(cur) ? cur[part] : undefined;
    if (cur === undefined) throw new PatchError(`doc is missing path: "${path}"`, 422);
  }
  return cur;
}

function removeAt(doc: Json, path: string): Json {
  const { parent, key } = parentOf(doc, pointer(path));
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length)) throw new PatchError(`doc is missing path: "${path}"`, 422);
    return parent.splice(i, 1)[0] as Json;
  }
  if (!isObject(parent) || !(key in parent)) throw new PatchError(`doc is missing path: "${path}"`, 422);
  const old = parent[key] as Json;
  delete parent[key];
  return old;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const parts = pointer(path);
  if (parts.length === 0) return value;
  const { parent, key } = parentOf(doc, parts);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(i) || i < 0 || i > parent.length) {
      throw new PatchError(`doc is missing path: "${path}"`, 422);
    }
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else if (isObject(parent)) {
    if (replace && !(key in parent)) throw new PatchError(`doc is missing path: "${path}"`, 422);
    parent[key] = value;
  } else {
    throw new PatchError(`doc is missing path: "${path}"`, 422);
  }
  return doc;
}

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError('a JSON patch must be a list of operations', 400);
  let doc = structuredClone(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new PatchError('each JSON patch operation needs "op" and "path"', 400);
    }
    const op = raw as unknown as Op;
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, structuredClone(op.value ?? null), false);
        break;
      case 'replace':
        doc = addAt(doc, op.path, structuredClone(op.value ?? null), true);
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'move':
      case 'copy': {
        if (op.from === undefined) throw new PatchError(`"${op.op}" needs "from"`, 400);
        const value = op.op === 'move' ? removeAt(doc, op.from) : structuredClone(getAt(doc, op.from));
        doc = addAt(doc, op.path, value, false);
        break;
      }
      case 'test':
        if (JSON.stringify(getAt(doc, op.path)) !== JSON.stringify(op.value ?? null)) {
          throw new PatchError(`testing value ${op.path} failed`, 422);
        }
        break;
      default:
        throw new PatchError(`unknown JSON patch operation "${op.op}"`, 400);
    }
  }
  return doc;
}
