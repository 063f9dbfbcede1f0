// Every metric the product exports, defined in one place (prom-client, one registry, names prefixed
// startup_lock_). The engine never touches these: the server's edges observe what it reports.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { UnleasedKind, UnleasedStart } from './lock/types.js';

export interface LockGaugesSource {
  slotCount: number;
  activeCount: number;
  queueLength: number;
  unleasedStarts(): UnleasedStart[];
}

/** Label values of the unleased start-up metrics, all exported from the start (at 0). */
export const UNLEASED_KINDS: readonly UnleasedKind[] = ['restart', 'unmanaged'];

const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800];
const HOLD_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];
const CHECK_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface EdgeGaugesSource {
  /** Open HTTP connections. */
  count: number;
}

export function createMetrics(lock: LockGaugesSource, edge: EdgeGaugesSource = { count: 0 }) {
  const registry = processRegistry();
  const registers = [registry];

  // Gauges read the engine at scrape time, so the grant path does no extra work for them.
  new Gauge({
    name: 'startup_lock_slots',
    help: 'Slots: how many start-ups may hold a lease at once.',
    registers,
    collect() {
      this.set(lock.slotCount);
    },
  });
  new Gauge({
    name: 'startup_lock_leases_active',
    help: 'Leases held right now.',
    registers,
    collect() {
      this.set(lock.activeCount);
    },
  });
  new Gauge({
    name: 'startup_lock_queue_length',
    help: 'Holders waiting in the queue right now (including those between two polls).',
    registers,
    collect() {
      this.set(lock.queueLength);
    },
  });

  new Gauge({
    name: 'startup_lock_unleased_starts',
    help: 'Start-ups on the node taking a slot without a lease, by kind (restart: after its lease ended; unmanaged: a pod without the client).',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      const starts = lock.unleasedStarts();
      for (const kind of UNLEASED_KINDS) this.set({ kind }, starts.filter((s) => s.kind === kind).length);
    },
  });

  new Gauge({
    name: 'startup_lock_connections',
    help: 'HTTP connections open to the lock server right now (bounded by --max-connections).',
    registers,
    collect() {
      this.set(edge.count);
    },
  });

  return {
    registry,
    queueWait: new Histogram({
      name: 'startup_lock_queue_wait_seconds',
      help: 'Time from joining the queue to being granted a lease.',
      buckets: WAIT_BUCKETS,
      registers,
    }),
    leaseHeld: new Histogram({
      name: 'startup_lock_lease_held_seconds',
      help: 'Time a lease was held, from grant to release or expiry.',
      buckets: HOLD_BUCKETS,
      registers,
    }),
    grants: new Counter({
      name: 'startup_lock_lease_grants_total',
      help: 'Leases granted, by API (legacy GET / or the v1 lease API).',
      labelNames: ['api'] as const,
      registers,
    }),
    denials: new Counter({
      name: 'startup_lock_lease_denials_total',
      help: 'Requests answered without a lease, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    releases: new Counter({
      name: 'startup_lock_lease_releases_total',
      help: "Leases ended, by reason (released early, expired, the pod's own probe passed, pod ready, app cannot start, pod gone, shutdown).",
      labelNames: ['reason'] as const,
      registers,
    }),
    unleasedCounted: new Counter({
      name: 'startup_lock_unleased_starts_total',
      help: 'Start-ups without a lease that took a slot, by kind (restart, unmanaged).',
      labelNames: ['kind'] as const,
      registers,
    }),
    stateWriteFailures: new Counter({
      name: 'startup_lock_state_write_failures_total',
      help: 'Writes of the state file (--state-file) that failed; grants wait until one succeeds.',
      registers,
    }),
    startToRelease: new Histogram({
      name: 'startup_lock_start_to_release_seconds',
      help: "Time from a holder pod's first app container start to its lease's release, by reason (probe: the server's own probe passed; ready: the pod's Ready condition).",
      labelNames: ['reason'] as const,
      buckets: WAIT_BUCKETS,
      registers,
    }),
    checkUp: new Gauge({
      name: 'startup_lock_check_up',
      help: 'Whether a dependency check is up (1) or down (0).',
      labelNames: ['check'] as const,
      registers,
    }),
    checkDuration: new Histogram({
      name: 'startup_lock_check_duration_seconds',
      help: 'Duration of one dependency check probe.',
      labelNames: ['check'] as const,
      buckets: CHECK_BUCKETS,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The injector's metrics (`startup-lock inject`), in their own registry: it runs as its own process. */
export function createInjectorMetrics() {
  const registry = processRegistry();
  const registers = [registry];
  return {
    registry,
    injections: new Counter({
      name: 'startup_lock_injections_total',
      help:
        'Admission reviews answered, by result: injected, moved (put back first), unchanged, skipped, ' +
        'invalid (not a pod CREATE review) or error (allowed unchanged after a failure).',
      labelNames: ['result'] as const,
      registers,
    }),
    admissionDuration: new Histogram({
      name: 'startup_lock_admission_duration_seconds',
      help: 'Time to answer one admission review, from request to response.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers,
    }),
    certificateExpiry: new Gauge({
      name: 'startup_lock_injector_certificate_expiry_timestamp_seconds',
      help: 'When the serving certificate of the webhook expires (Unix time).',
      registers,
    }),
    ready: new Gauge({
      name: 'startup_lock_injector_ready',
      help: 'Whether the webhook serves a certificate the API server trusts (1) or not (0).',
      registers,
    }),
  };
}

export type InjectorMetrics = ReturnType<typeof createInjectorMetrics>;

/** A registry with Node's process metrics, less the three that `promtool check metrics` rejects. */
function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client also exports these three as gauges named *_total, which `promtool check metrics`
  // rejects (non-counter with a _total suffix); the same values stay as nodejs_active_handles etc.
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ]) {
    registry.removeSingleMetric(name);
  }
  return registry;
}
