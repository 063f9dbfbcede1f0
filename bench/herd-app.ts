// One simulated app of the herd benchmark (bench/herd.ts): its start-up is its runtime's boot, then a
// fixed amount of CPU work, a busy loop of HERD_ITERATIONS steps, after which it is "ready": it prints one JSON line (AppReport)
// and exits. With HERD_PORT it is an app with a readiness endpoint instead: once the work is done it
// listens on 127.0.0.1:HERD_PORT (any request: 200), prints the line when listening, and runs until
// SIGTERM; the kubelet model and the lock server probe that port. It imports nothing statically, and it
// does not release any lock itself: in a cluster the app knows nothing of startup-lock.
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
  const done = () => {
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
  };
  const port = Number(process.env.HERD_PORT ?? '0');
  if (!(port > 0)) return done();
  // Ready is when the port answers: a probe before that is refused, as by an app still starting.
  const http = process.getBuiltinModule('node:http');
  const server = http.createServer((_req, res) => void res.end('ok'));
  process.once('SIGTERM', () => process.exit(0));
  server.listen(port, '127.0.0.1', done);
}

main();
