// Holder names, in one place: how a pod, a legacy request and a client without a pod name are named
// in the queue, and how a name leads back to its pod. Imports only a type: the acquire client bundles it.
import type { Holder } from './lock/types.js';

/** The lease-API name of a pod: `namespace/name`. */
export function podHolder(namespace: string, name: string): Holder {
  return `${namespace}/${name}`;
}

/** The pod a holder names, or null for one that is not `namespace/name` (legacy and made-up names). */
export function podOf(holder: Holder): { namespace: string; name: string } | null {
  const parts = holder.split('/');
  const [namespace, name] = parts;
  return parts.length === 2 && namespace && name ? { namespace, name } : null;
}

/** Names the server gives legacy requests; a lease-API holder may not start with it. */
export const LEGACY_PREFIX = 'legacy:';

/**
 * The name of one legacy `GET /`: `legacy:IP#<bootId>.<n>`. bootId is random per process and n counts
 * from 1, so a name never repeats one restored from the state file.
 */
export function legacyHolder(address: string, bootId: string, n: number): Holder {
  return `${LEGACY_PREFIX}${address}#${bootId}.${n}`;
}

/**
 * A name for a client that knows its namespace but not its pod: the host name, made unique (with
 * hostNetwork every pod on the node shares it, and two waiters under one name would share one lease).
 */
export function madeUpHolder(namespace: string, host: string, random: () => number): Holder {
  return podHolder(namespace, `${host}-${random().toString(16).slice(2, 8)}`);
}
