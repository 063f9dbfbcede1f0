// The init container to inject, read once from --container-file: the chart renders the
// startup-lock-client library template into a ConfigMap, so the webhook and the library chart cannot
// drift. Accepts what the library renders (a YAML list of one container) or a single container, in
// YAML or JSON.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError } from '../errors.js';

/** A container as JSON; only the fields the webhook reads are typed. */
export interface Container {
  name: string;
  args?: string[];
  [field: string]: unknown;
}

export function loadContainer(file: string): Container {
  let doc: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    doc = file.endsWith('.json') ? JSON.parse(text) : parse(text);
  } catch (err) {
    throw new ConfigError([`--container-file: cannot read ${file}: ${(err as Error).message}`]);
  }
  const problem = (why: string) => new ConfigError([`--container-file: ${file}: ${why}`]);
  if (Array.isArray(doc)) {
    if (doc.length !== 1) throw problem(`expected exactly one container, found ${doc.length}`);
    doc = doc[0];
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw problem('expected a container');
  const container = doc as Record<string, unknown>;
  if (typeof container.name !== 'string' || container.name === '') throw problem('the container has no name');
  if (typeof container.image !== 'string' || container.image === '')
    throw problem('the container has no image');
  if (container.args !== undefined) {
    const args = container.args;
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
      throw problem('args must be a list of strings');
    }
  }
  if (container.volumeMounts !== undefined) {
    // A mount needs a pod volume (the token Secret) in every injected namespace: not supported yet.
    throw problem(
      'volumeMounts are not supported (the injector cannot add the token Secret to every namespace)',
    );
  }
  return container as Container;
}
