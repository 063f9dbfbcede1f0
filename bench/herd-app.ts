// One simulated app of the herd benchmark (bench/herd.ts): its start-up is its runtime's boot, then a
// fixed amount of CPU work, a busy loop of HERD_ITERATIONS steps, after which it is "ready": it prints one JSON line (AppReport)
// and exits. It imports nothing, and it does not release any lock itself: in a cluster the app knows
// nothing of startup-lock (--release-on-ready releases on the pod's Ready condition), so the harness
// plays that part when it reads this line.
// bench/herd.ts transpiles it to plain JavaScript once, so no TypeScript loader runs in the children.

export interface AppReport {
  /** Epoch ms (sub-ms precision) when the process began (performance.timeOrigin): the container
   * started, and its probes start counting. */
  processStart: number;
  /** Epoch ms when the busy loop began, after the boot. */
  workStart: number;
  /** Epoch ms when the work was done: the app is ready. */
  ready: number;
  /** CPU time the work itself took (user + system), ms. */
  workCpuMs: number;
  /** CPU time of the whole process up to ready, boot included, ms. */
  processCpuMs: number;
  /** The loop's result, printed so the JIT cannot drop the loop. */
  checksum: number;
}

/** The fixed work: an xorshift generator stepped `iterations` times. */
function work(iterations: number): number {
  let x = 2463534242;
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x >>> 0;
}

const now = () => performance.timeOrigin + performance.now();

function main(): void {
  const iterations = Number(process.env.HERD_ITERATIONS);
  if (!Number.isSafeInteger(iterations) || iterations < 0) {
    process.stderr.write(
      `herd-app: HERD_ITERATIONS must be a whole number, got ${process.env.HERD_ITERATIONS}\n`,
    );
    process.exit(2);
  }
  const workStart = now();
  const cpu0 = process.cpuUsage();
  const checksum = work(iterations);
  const cpu = process.cpuUsage(cpu0);
  const ready = now();
  const total = process.cpuUsage();
  const report: AppReport = {
    processStart: performance.timeOrigin,
    workStart,
    ready,
    workCpuMs: (cpu.user + cpu.system) / 1000,
    processCpuMs: (total.user + total.system) / 1000,
    checksum,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main();
