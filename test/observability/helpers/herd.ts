// A short herd of lease traffic against a real server: v1 clients ("pods") that long-poll, hold
// briefly and release (or walk away and let the lease expire), and legacy clients that poll GET /
// and never release. Enough to move every counter and histogram the dashboard shows.
import { setTimeout as delay } from 'node:timers/promises';

export interface HerdStats {
  v1Granted: number;
  v1Released: number;
  v1Abandoned: number;
  legacyGranted: number;
  refused: number;
  /** Unexpected answers, e.g. "POST 500"; should stay empty. */
  unexpected: string[];
}

export interface HerdOptions {
  v1Clients: number;
  legacyClients: number;
  durationMs: number;
  /**
   * The v1 clients stop this long before the end. Legacy polls never jump the FIFO queue, and
   * v1 waiters keep their place between polls, so legacy clients are only granted once the v1
   * herd has passed, as on a real node.
   */
  legacyTailMs: number;
  /** Every n-th v1 grant is not released, so it expires. */
  abandonEvery: number;
}

const WAIT_S = 3;
const PAUSE_MS = 300;

/** One pod: polls with the same holder until granted, so it never leaves a stale queue place. */
async function acquire(
  base: string,
  holder: string,
  stats: HerdStats,
  hardDeadline: number,
): Promise<string | null> {
  while (Date.now() < hardDeadline) {
    const res = await fetch(
      `${base}/v1/leases?holder=${encodeURIComponent(holder)}&duration=1&wait=${WAIT_S}`,
      {
        method: 'POST',
        signal: AbortSignal.timeout((WAIT_S + 5) * 1000),
      },
    );
    const body = (await res.json()) as { id?: string };
    if (res.status === 200 && body.id) return body.id;
    if (res.status === 423) stats.refused++;
    else stats.unexpected.push(`POST ${res.status}`);
  }
  stats.unexpected.push(`${holder} not granted before the hard deadline`);
  return null;
}

async function v1Client(
  base: string,
  id: number,
  stopAt: number,
  hardDeadline: number,
  opts: HerdOptions,
  stats: HerdStats,
): Promise<void> {
  for (let n = 0; Date.now() < stopAt; n++) {
    const leaseId = await acquire(base, `e2e/pod-${id}-${n}`, stats, hardDeadline);
    if (leaseId === null) return;
    stats.v1Granted++;
    if (stats.v1Granted % opts.abandonEvery === 0) {
      stats.v1Abandoned++; // left to expire after its 1 s duration
    } else {
      await delay(100 + ((id * 37 + n * 53) % 300)); // "start-up work" while holding the slot
      const del = await fetch(`${base}/v1/leases/${leaseId}`, {
        method: 'DELETE',
        signal: AbortSignal.timeout(5000),
      });
      await del.arrayBuffer();
      if (del.status === 204) stats.v1Released++;
      else stats.unexpected.push(`DELETE ${del.status}`);
    }
    await delay(PAUSE_MS); // the next pod on the node comes along
  }
}

async function legacyClient(base: string, until: number, stats: HerdStats): Promise<void> {
  while (Date.now() < until) {
    const res = await fetch(`${base}/?duration=1`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    if (res.status === 200 && text === 'Lock acquired') stats.legacyGranted++;
    else if (res.status === 423 && text === 'Locked') stats.refused++;
    else stats.unexpected.push(`GET / ${res.status} ${text}`);
    await delay(250); // the old client polls once a second; a bit faster here
  }
}

/** Runs the herd for about opts.durationMs (bounded: at most 30 s more) and reports what happened. */
export async function driveHerd(base: string, opts: HerdOptions): Promise<HerdStats> {
  const stats: HerdStats = {
    v1Granted: 0,
    v1Released: 0,
    v1Abandoned: 0,
    legacyGranted: 0,
    refused: 0,
    unexpected: [],
  };
  const until = Date.now() + opts.durationMs;
  const v1StopAt = until - opts.legacyTailMs;
  await Promise.all([
    ...Array.from({ length: opts.v1Clients }, (_, i) =>
      v1Client(base, i, v1StopAt, until + 30_000, opts, stats),
    ),
    ...Array.from({ length: opts.legacyClients }, () => legacyClient(base, until, stats)),
  ]);
  return stats;
}
