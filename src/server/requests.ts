// Parsing and checking request parameters at the edge: bad input gets a one-line reason (400) and
// changes nothing. Seconds at the edge, milliseconds inside. `duration` and `wait` take the options'
// one duration grammar (src/config/formats.ts): `30` (seconds), `30s`, `500ms`, `2m`.
import { parseDuration } from '../config/formats.js';

import { LEGACY_PREFIX } from '../holder.js';

export class BadRequest extends Error {}

/** The one value of a query parameter, or null; a parameter given twice is ambiguous, so refused. */
export function single(params: URLSearchParams, name: string): string | null {
  const all = params.getAll(name);
  if (all.length > 1) throw new BadRequest(`${name} is given ${all.length} times; give it once`);
  return all[0] ?? null;
}

/** The query string of a request target, parsed (the part after the first `?`). */
export function queryOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

/** A hold: whole seconds (the legacy API's contract, and Lease objects count in seconds). */
export function wholeSeconds(raw: string | null, name: string, maxMs: number, fallbackMs: number): number {
  if (raw === null) return fallbackMs;
  const max = Math.floor(maxMs / 1000);
  const parsed = parseDuration(raw);
  if (!parsed.ok || parsed.value % 1000 !== 0 || parsed.value < 1000 || parsed.value > max * 1000) {
    throw new BadRequest(
      `${name} must be a whole number of seconds from 1 to ${max} (30, 30s, 2m), got "${clip(raw)}"`,
    );
  }
  return parsed.value;
}

/** A long poll longer than --max-wait is not an error: the server answers at its own limit. */
export function waitSeconds(raw: string | null, maxMs: number): number {
  if (raw === null) return 0;
  const parsed = parseDuration(raw);
  if (!parsed.ok) {
    throw new BadRequest(
      `wait must be a number of seconds (0 or more) or a duration (500ms, 2m), got "${clip(raw)}"`,
    );
  }
  return Math.min(maxMs, parsed.value);
}

const HOLDER = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,318}$/;

export function holderParam(raw: string | null): string {
  if (raw === null || raw === '') throw new BadRequest('holder is required, as namespace/pod');
  if (!HOLDER.test(raw)) {
    throw new BadRequest(`holder must be namespace/pod (letters, digits, . _ : / -), got "${clip(raw)}"`);
  }
  // Names the server gives legacy requests: a /v1 request must not take one (or a lease made for it).
  if (raw.startsWith(LEGACY_PREFIX))
    throw new BadRequest(`holder must not start with "${LEGACY_PREFIX}" (legacy API names)`);
  return raw;
}

export function uidOf(raw: string | null): string | null {
  if (raw === null || raw === '') return null;
  if (!/^[A-Za-z0-9-]{1,64}$/.test(raw)) throw new BadRequest(`uid must be a pod UID, got "${clip(raw)}"`);
  return raw;
}

/**
 * The client's per-process secret (`client=`): 16 to 128 URL-safe characters, random per acquire
 * process. Optional, so old clients keep working (their leases are not protected by it).
 */
export function clientOf(raw: string | null): string | null {
  if (raw === null || raw === '') return null;
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(raw)) {
    throw new BadRequest('client must be 16 to 128 letters, digits, _ or - (a random per-process value)');
  }
  return raw;
}

function clip(raw: string): string {
  return raw.length > 40 ? `${raw.slice(0, 40)}…` : raw;
}
