// Runs every dependency check on its own timer: --passHc after a success, --failHc after a failure,
// each probe bounded by --check-timeout. The lock asks allUp() before every grant; it is false until
// each check has finished once, and false while any is down. State changes go to the observer once.
import type { Clock, TimerHandle } from '../clock.js';
import { down, type Probe, type ProbeResult } from './probe.js';
import type { CheckObserver, CheckState, DependencyGate } from './types.js';

export interface CheckSchedulerOptions {
  targets: readonly string[];
  /** Pause after a failed probe (ms). */
  failHcMs: number;
  /** Pause after a passed probe (ms). */
  passHcMs: number;
  /** Longest one probe may take before it counts as down (ms). */
  timeoutMs: number;
  clock: Clock;
  /** Picks the probe for a target (tcp or http); injected so unit tests need no sockets. */
  probeFor: (target: string) => Probe;
  observer?: CheckObserver;
  /** Closed with the scheduler (the HTTP prober's keep-alive agents). */
  resources?: ReadonlyArray<{ close(): void }>;
}

class TimeoutError extends Error {
  override name = 'TimeoutError';
}

interface Entry {
  /** The URL probed; state.target is the same URL without a password, for logs, metrics and status. */
  url: string;
  state: CheckState;
  probe: Probe;
  timer: TimerHandle | null;
  inFlight: AbortController | null;
  /** The current round (probe and bookkeeping), awaited by close(). */
  round: Promise<void> | null;
}

export class CheckScheduler implements DependencyGate {
  private readonly entries: Entry[];
  private running = false;

  constructor(private readonly options: CheckSchedulerOptions) {
    this.entries = options.targets.map((target) => ({
      url: target,
      state: {
        target: redact(target),
        up: false,
        checked: false,
        lastError: null,
        lastChange: null,
        lastCheck: null,
      },
      probe: options.probeFor(target),
      timer: null,
      inFlight: null,
      round: null,
    }));
  }

  allUp(): boolean {
    return this.entries.every((e) => e.state.checked && e.state.up);
  }

  states(): CheckState[] {
    return this.entries.map((e) => ({ ...e.state }));
  }

  /** First probe of every check at once; each then keeps its own schedule. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const entry of this.entries) this.schedule(entry);
  }

  /** Cancels every timer and aborts every probe in flight; resolves when they have let go. */
  async close(): Promise<void> {
    this.running = false;
    for (const entry of this.entries) {
      entry.timer?.cancel();
      entry.timer = null;
      entry.inFlight?.abort(new Error('closing'));
    }
    await Promise.all(this.entries.map((entry) => entry.round));
    for (const resource of this.options.resources ?? []) resource.close();
  }

  private schedule(entry: Entry): void {
    entry.round = this.run(entry);
  }

  private async run(entry: Entry): Promise<void> {
    entry.timer = null;
    if (!this.running) return;
    const { clock, timeoutMs, observer } = this.options;
    const controller = new AbortController();
    entry.inFlight = controller;
    const started = clock.now();
    const timeout = clock.setTimer(timeoutMs, () =>
      controller.abort(new TimeoutError(`timed out after ${timeoutMs}ms`)),
    );
    let result: ProbeResult;
    try {
      result = await entry.probe(entry.url, controller.signal);
    } catch (err) {
      // A probe should resolve, never throw; if one does, the dependency counts as down.
      result = down(err instanceof Error ? err.message : String(err));
    } finally {
      timeout.cancel();
      entry.inFlight = null;
    }
    if (!this.running) return;
    // A probe that ignored its signal may still resolve "up" after the timeout; the timeout wins.
    if (controller.signal.aborted && result.up) result = down(`timed out after ${timeoutMs}ms`);
    const now = clock.now();
    observer?.onProbe?.(entry.state.target, result.up, now - started);
    this.record(entry, result, now);
    entry.timer = clock.setTimer(result.up ? this.options.passHcMs : this.options.failHcMs, () => {
      this.schedule(entry);
    });
  }

  private record(entry: Entry, result: ProbeResult, now: number): void {
    const state = entry.state;
    const changed = !state.checked || state.up !== result.up;
    state.checked = true;
    state.up = result.up;
    state.lastError = result.error ?? state.lastError;
    state.lastCheck = now;
    if (changed) {
      state.lastChange = now;
      this.options.observer?.onChange?.({ ...state });
    }
  }
}

/** `https://user:secret@host/` → `https://user:***@host/`: check URLs end up in logs, labels and status. */
export function redact(target: string): string {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return target;
  }
  if (url.password === '') return target;
  url.password = '***';
  return url.toString();
}
