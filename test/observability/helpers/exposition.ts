// Metric names: the ones the server promises (SPEC "Metrics") and the ones a live /metrics page
// actually offers, so dashboard and alert queries can be checked against both.

/** Families the server exports by contract; a histogram stands for its _bucket/_sum/_count series. */
export const PROMISED_FAMILIES = {
  gauge: [
    'startup_lock_slots',
    'startup_lock_leases_active',
    'startup_lock_queue_length',
    'startup_lock_connections',
    'startup_lock_check_up',
    'startup_lock_unleased_starts',
  ],
  counter: [
    'startup_lock_lease_grants_total',
    'startup_lock_lease_denials_total',
    'startup_lock_lease_releases_total',
    'startup_lock_state_write_failures_total',
    'startup_lock_unleased_starts_total',
  ],
  histogram: [
    'startup_lock_queue_wait_seconds',
    'startup_lock_lease_held_seconds',
    'startup_lock_start_to_release_seconds',
    'startup_lock_check_duration_seconds',
  ],
  // prom-client collectDefaultMetrics: the ones the dashboard reads.
  process: [
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_p50_seconds',
    'nodejs_eventloop_lag_p99_seconds',
  ],
} as const;

/** Families `startup-lock inject` exports (its own process and /metrics page). */
export const INJECTOR_FAMILIES = {
  gauge: ['startup_lock_injector_ready', 'startup_lock_injector_certificate_expiry_timestamp_seconds'],
  counter: ['startup_lock_injections_total'],
  histogram: ['startup_lock_admission_duration_seconds'],
} as const;

/** Series names Prometheus itself adds to every scrape target, not exported by the server. */
export const SCRAPE_SERIES = new Set(['up']);

function seriesOf(family: string, type: string): string[] {
  if (type === 'histogram') return [`${family}_bucket`, `${family}_sum`, `${family}_count`];
  if (type === 'summary') return [family, `${family}_sum`, `${family}_count`];
  return [family];
}

/** Every series name the contract promises. */
export function promisedSeries(): Set<string> {
  const names = new Set<string>();
  for (const [type, families] of Object.entries(PROMISED_FAMILIES)) {
    for (const family of families) for (const name of seriesOf(family, type)) names.add(name);
  }
  return names;
}

/** Every series name the injector promises. */
export function injectorSeries(): Set<string> {
  const names = new Set<string>();
  for (const [type, families] of Object.entries(INJECTOR_FAMILIES)) {
    for (const family of families) for (const name of seriesOf(family, type)) names.add(name);
  }
  return names;
}

/**
 * Series names on a Prometheus text exposition page: from `# TYPE` lines (so a labelled counter
 * that has not counted anything yet still counts) and from the sample lines themselves.
 */
export function exposedSeries(page: string): Set<string> {
  const names = new Set<string>();
  for (const line of page.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type?.[1] && type[2]) {
      for (const name of seriesOf(type[1], type[2])) names.add(name);
      continue;
    }
    const sample = /^([A-Za-z_:][\w:]*)[{\s]/.exec(line);
    if (sample?.[1]) names.add(sample[1]);
  }
  return names;
}
