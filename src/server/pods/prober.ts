// Probes the pods that hold a lease, as the kubelet would, but every --ready-probe-interval instead of
// every periodSeconds: once a holder's app containers run, each container's startup (else readiness)
// probe is sent to the pod's IP, and when every container passes, `passed` is called (the lease ends,
// reason `probe`). The watcher's instance follows only holders (at most --locks pods); the UnleasedCounter
// has its own for the pods it counts as starting without a lease, until their probe passes.
import type { V1Pod } from '@kubernetes/client-node';
import type { Clock, TimerHandle } from '../../clock.js';
import type { Holder } from '../../lock/types.js';
import type { Logger } from '../../log.js';
import { describeTarget, runProbe, type AttemptResult, type ProbeRunner } from './probe-attempt.js';
import { appContainersRunning, kubeletSays, type ContainerGate, type StartupPlan } from './probe-spec.js';

export interface HolderProberOptions {
  /** Pause between the starts of two attempts on one holder (> 0). */
  intervalMs: number;
  clock: Clock;
  log: Logger;
  /** Every app container passed; `detail` says which probe passed for each. */
  passed(holder: Holder, pod: V1Pod, detail: string): void;
  /** The network attempt (tests inject one). */
  run?: ProbeRunner;
}

interface Followed {
  pod: V1Pod;
  plan: StartupPlan;
  timer: TimerHandle | null;
  inFlight: boolean;
  /** Last failure per container, so a change is logged once, not every attempt. */
  lastWhy: Map<string, string>;
}

export class HolderProber {
  private readonly followed = new Map<Holder, Followed>();
  /** `holder container` pairs already warned about (a probe the server will not run itself). */
  private readonly warned = new Set<string>();
  private stopped = false;

  constructor(private readonly options: HolderProberOptions) {}

  /** A holder pod changed (or was just granted): probe it from now on, with its latest spec and status. */
  follow(holder: Holder, pod: V1Pod, plan: StartupPlan): void {
    if (this.stopped) return;
    let f = this.followed.get(holder);
    if (f === undefined) {
      f = { pod, plan, timer: null, inFlight: false, lastWhy: new Map() };
      this.followed.set(holder, f);
      this.warnFallbacks(holder, plan);
    }
    f.pod = pod;
    f.plan = plan;
    // Idle (containers were not running yet), or the kubelet's word is part of the verdict and may just
    // have changed: judge at once. Otherwise the next attempt sees the new pod.
    if (f.inFlight) return;
    if (f.timer !== null && !plan.gates.some((g) => g.via === 'kubelet')) return;
    f.timer?.cancel();
    void this.attempt(holder, f);
  }

  /** Stop probing a holder (its lease ended, its pod is gone). */
  forget(holder: Holder): void {
    const f = this.followed.get(holder);
    if (f === undefined) return;
    f.timer?.cancel();
    this.followed.delete(holder);
    for (const key of this.warned) if (key.startsWith(`${holder} `)) this.warned.delete(key);
  }

  /** Holders being probed right now. */
  get size(): number {
    return this.followed.size;
  }

  stop(): void {
    this.stopped = true;
    for (const holder of [...this.followed.keys()]) this.forget(holder);
  }

  private warnFallbacks(holder: Holder, plan: StartupPlan): void {
    for (const g of plan.gates) {
      if (g.via !== 'kubelet' || g.why === 'exec') continue;
      const key = `${holder} ${g.container}`;
      if (this.warned.has(key)) continue;
      this.warned.add(key);
      this.options.log.warn({ holder, container: g.container, why: g.why }, g.message);
    }
  }

  private async attempt(holder: Holder, f: Followed): Promise<void> {
    f.timer = null;
    if (this.stopped || this.followed.get(holder) !== f) return;
    // Before the containers run, a probe only measures the container runtime; the next pod update
    // (a container started) brings the holder back here.
    if (!appContainersRunning(f.pod)) return;
    const { clock, intervalMs } = this.options;
    const startedAt = clock.now();
    const pod = f.pod;
    f.inFlight = true;
    const results = await Promise.all(f.plan.gates.map((g) => this.check(pod, g)));
    f.inFlight = false;
    if (this.stopped || this.followed.get(holder) !== f) return;
    if (results.every((r) => r.ok)) {
      this.forget(holder);
      this.options.passed(holder, pod, results.map((r) => r.line).join('; '));
      return;
    }
    for (const [i, r] of results.entries()) {
      const container = f.plan.gates[i]!.container;
      const why = r.ok ? '' : r.line;
      if (f.lastWhy.get(container) !== why) {
        f.lastWhy.set(container, why);
        if (!r.ok)
          this.options.log.debug({ holder, container, probe: r.line }, 'holder probe not passing yet');
      }
    }
    f.timer = clock.setTimer(Math.max(0, intervalMs - (clock.now() - startedAt)), () => {
      void this.attempt(holder, f);
    });
  }

  /** One container's verdict, with a line saying which probe gave it. */
  private async check(pod: V1Pod, g: ContainerGate): Promise<{ ok: boolean; line: string }> {
    if (g.via === 'running') return { ok: true, line: `${g.container}: running (no probe)` };
    if (g.via === 'kubelet') {
      const ok = kubeletSays(pod, g.container, g.field);
      const source = g.why === 'exec' ? 'exec' : g.why;
      return {
        ok,
        line: `${g.container}: ${g.probe} (${source}) ${ok ? `the kubelet reports ${g.field}` : `not ${g.field} yet`}`,
      };
    }
    const ip = pod.status?.podIP;
    if (!ip) return { ok: false, line: `${g.container}: ${g.probe}: no pod IP yet` };
    let result: AttemptResult;
    try {
      result = await (this.options.run ?? runProbe)(ip, g.target, g.timeoutMs);
    } catch (err) {
      result = { ok: false, detail: (err as Error).message };
    }
    return {
      ok: result.ok,
      line: `${g.container}: ${g.probe} ${describeTarget(ip, g.target)} → ${result.detail}`,
    };
  }
}
