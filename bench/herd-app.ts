// One simulated app of the herd benchmark (bench/herd.ts): its start-up is a fixed amount of CPU work,
// a busy loop of HERD_ITERATIONS steps, after which it is "ready". With HERD_RELEASE set it then gives
// its lease back at once, as release-on-ready does in a cluster. It prints one JSON line (AppReport).
// Kept free of imports beyond node:http so its own boot costs what a small app's would.
// bench/herd.ts transpiles it to plain JavaScript once, so no TypeScript loader runs in the children.
import { request } from 'node:http';

export interface AppReport {
  /** Epoch ms (sub-ms precision) when the process began: performance.timeOrigin. */
  processStart: number;
  /** Epoch ms when the start-up work began: the pod's probes start counting here. */
  workStart: number;
  /** Epoch ms when the work was done: the app is ready. */
  ready: number;
  /** CPU time the work itself took (user + system), ms. */
  workCpuMs: number;
  /** CPU time of the whole process up to ready, boot included, ms. */
  processCpuMs: number;
  /** HTTP status of the release (DELETE of the lease); null when the mode has no release. */
  releaseStatus: number | null;
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

function release(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'DELETE', timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function main(): Promise<void> {
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
  const releaseUrl = process.env.HERD_RELEASE;
  const report: AppReport = {
    processStart: performance.timeOrigin,
    workStart,
    ready,
    workCpuMs: (cpu.user + cpu.system) / 1000,
    processCpuMs: (total.user + total.system) / 1000,
    releaseStatus: releaseUrl ? await release(releaseUrl) : null,
    checksum,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

await main();
