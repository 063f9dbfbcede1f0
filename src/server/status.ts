// GET /v1/status: what an operator asks first — who holds the slots, who waits, and why nothing moves.
// Lease ids are left out: anyone who can read the status must not be able to release others' leases.
import type { DependencyGate } from '../checks/types.js';
import type { LockEngine } from '../lock/engine.js';
import type { Lifecycle } from './app.js';
import type { LoadMonitor } from './load.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const seconds = (ms: number) => Math.round(ms / 100) / 10;

export function statusOf(
  engine: LockEngine,
  life: Lifecycle,
  checks: DependencyGate,
  load: LoadMonitor | null,
  now: number,
) {
  return {
    ready: life.ready && !life.draining,
    draining: life.draining,
    slots: engine.slotCount,
    leasesActive: engine.activeCount,
    holders: engine.leases().map((l) => ({
      holder: l.holder,
      slot: l.slot,
      api: l.api,
      grantedAt: iso(l.grantedAt),
      expiresAt: iso(l.expiresAt),
      ageSeconds: seconds(now - l.grantedAt),
      remainingSeconds: seconds(Math.max(0, l.expiresAt - now)),
    })),
    // Start-ups the node's pod watcher sees without a lease: each takes a slot until started or `bound`.
    unleased: engine.unleasedStarts().map((u) => ({
      pod: u.pod,
      kind: u.kind,
      since: iso(u.since),
      bound: iso(u.bound),
      ageSeconds: seconds(now - u.since),
    })),
    queue: engine.waiters().map((w, i) => ({
      holder: w.holder,
      position: i + 1,
      waitingSince: iso(w.since),
      waitedSeconds: seconds(now - w.since),
      connected: w.connected,
    })),
    checks: checks.states().map((c) => ({
      target: c.target,
      up: c.up,
      checked: c.checked,
      lastError: c.lastError,
      lastChange: iso(c.lastChange),
      lastCheck: iso(c.lastCheck),
    })),
    load: load?.enabled ? { perCore: Math.round(load.current() * 100) / 100 } : null,
  };
}
