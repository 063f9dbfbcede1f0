// `npm run bench:herd`: why the product exists, measured with real processes on this machine.
// N pods start at once; each app's start-up, from its process start to ready, is W CPU-seconds of
// work (bench/herd-app.ts: its runtime's boot plus a calibrated busy loop). Modes:
//   none          no lock: the herd, every app starts at once;
//   legacy        the original protocol: the init client polls `GET /` every 1 s (1 s request
//                 timeout, any non-200 = wait); fixed leases of pod-startup-lock's default 10 s;
//   legacy-tuned  the same with `?duration=` hand-tuned to W (rounded up to whole seconds);
//   startup-lock  the real `startup-lock acquire` client (lease API), and the lease released the
//                 moment the app is ready, as --release-on-ready does on the pod's Ready condition
//                 (the harness sends the DELETE, playing the server's pod watch);
//   lease-api     diagnostic: the same protocol polled from this process, so no client boots.
// And in a modelled cluster (bench/herd-kubelet.ts: the fake API server holds the pods, a kubelet model
// starts each app after its init step and marks the pod Ready only when its readiness probe, sent every
// periodSeconds, passes), with the real server's --release-on-ready and the real acquire, once per
// --probe-period:
//   ready-only    --ready-probe-interval 0: the lease ends on the pod's Ready condition;
//   own-probe     the server probes the holder pod itself (--ready-probe-interval 100ms, the default);
//   unmanaged-counted  as own-probe, but --unmanaged of the apps have no client: they start at once,
//                 and the server counts them as start-ups without a lease (--count-unleased, default);
//   unmanaged-unseen   the same with --count-unleased=false: the lock sees only its lease holders.
// Makespan: from launching the first pod (its init client; with no lock, the app) to the last app
// ready. Start-up wall: from the app's process start (its container, after the init step) to ready,
// which is what its probes see, so the deadline D applies to it. Physical limit: N·W / cores.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { AppReport } from './herd-app.js';
import { KubeletModel, NODE } from './herd-kubelet.js';
import {
  HELP,
  herdOptions,
  HerdUsageError,
  KUBELET_MODES,
  UNMANAGED_MODES,
  nodeVersion,
  type HerdOptions,
  type ModeName,
} from './herd-options.js';
import {
  acquireInit,
  buildApp,
  calibrate,
  legacyInit,
  leaseApiInit,
  machineBusyMs,
  now,
  procCpuMs,
  runApp,
  runListeningApp,
  stopChildren,
  track,
  type Init,
} from './herd-pods.js';
import { isMain, machine, quantile, startBenchServer, table, type BenchServer } from './lib.js';

const CORES = availableParallelism();
const RESULTS = new URL('./results/', import.meta.url);
/** Rounds whose background CPU is within this many cores of the quietest count as equally quiet. */
const QUIET_SLACK = 0.05;
/** Lease duration asked in the kubelet modes: an upper bound, as a cluster would set (the chart's 2m). */
const CLUSTER_LEASE_S = 120;

// ---------------------------------------------------------------------------------------------
// One mode: launch N pods at once, wait for every app to be ready.

interface AppTimes {
  /** Seconds after the launch of the first pod. */
  launchedS: number;
  grantedS: number;
  /** The app's own process start (after its init step). */
  processStartS: number;
  workStartS: number;
  readyS: number;
  /** Process start to ready. */
  startupWallS: number;
  /** CPU of the app's process from its start to ready (boot and work). */
  startupCpuS: number;
  releaseStatus: number | null;
}

export interface ModeResult {
  mode: ModeName;
  /** The kubelet model's readiness periodSeconds (kubelet modes only). */
  probePeriodS?: number;
  label: string;
  makespanS: number;
  /** The same end, counted from the first app process's start: leaves out the first init step. */
  makespanFromFirstAppS: number;
  physicalLimitS: number;
  makespanOverLimit: number;
  /** The most apps running their start-up (process start to ready) at one moment. */
  maxStartingAtOnce: number;
  startupWall: { meanS: number; p99S: number; minS: number };
  deadlineMisses: number;
  /** Mean time from a pod's launch to its app's process starting (the init step: queueing, client). */
  waitMeanS: number;
  /** Mean CPU of an app's start-up in this mode (W when alone; contention adds some). */
  startupCpuMeanS: number;
  /** CPU of every process of the run (apps, clients, server, harness) beyond the apps' N·W of work. */
  overheadCpuS: number;
  /** Of the overhead: the lock server's CPU, and this harness's (the kubelet model and fake API in it). */
  serverCpuS: number;
  harnessCpuS: number;
  /** Cores' worth of CPU the rest of the machine used meanwhile (other people's test suites). */
  backgroundCores: number;
  /** Makespan over N·W / (cores − background): the limit with only the CPU that was left to us. */
  makespanOverLeftLimit: number;
  releases: { ok: number; of: number } | null;
  /** Kubelet modes: how each lease ended (from the server's log), e.g. { probe: 8 }. */
  releaseReasons?: Record<string, number>;
  apps: AppTimes[];
  /** Every round of this mode (with --repeat), the reported one included. */
  rounds?: RoundSummary[];
}

/** The most apps between their process start and ready at one moment (a ready ends before a start). */
function mostAtOnce(times: AppTimes[]): number {
  const edges = times.flatMap((a): [number, number][] => [
    [a.processStartS, 1],
    [a.readyS, -1],
  ]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (n += d));
  return most;
}

/** A round's figures without the per-app detail. */
type RoundSummary = Omit<ModeResult, 'apps' | 'rounds'>;

const LABELS: Record<ModeName, (o: HerdOptions, periodS: number) => string> = {
  none: () => 'no lock (the herd)',
  legacy: (o) => `original: GET / every 1 s, ${o.legacyTimeoutS} s leases`,
  'legacy-tuned': (o) => `original, lease tuned to ${Math.ceil(o.workS)} s`,
  'ready-only': (_o, p) => `startup-lock, release on Ready only (kubelet probes every ${p} s)`,
  'own-probe': (_o, p) => `startup-lock, server probes the pod (kubelet every ${p} s)`,
  'unmanaged-counted': (o, p) =>
    `${o.unmanaged} of ${o.apps} apps without the client, counted (kubelet every ${p} s)`,
  'unmanaged-unseen': (o, p) =>
    `${o.unmanaged} of ${o.apps} apps without the client, not counted (kubelet every ${p} s)`,
  'startup-lock': () => 'startup-lock: acquire + harness DELETE at ready (ideal)',
  'lease-api': () => 'diagnostic: lease API without a client process',
};

async function runMode(
  mode: ModeName,
  o: HerdOptions,
  appJs: string,
  iterations: number,
  /** W as measured on a lone app (the calibration), CPU-seconds. */
  soloStartupCpuS: number,
  /** The kubelet model's probe period, for the kubelet modes. */
  periodS = 0,
): Promise<ModeResult> {
  let server: BenchServer | null = null;
  let init: Init = async () => ({});
  const kubelet = KUBELET_MODES.includes(mode) ? await KubeletModel.start(o.apps, periodS) : null;
  const apps: { stop(): Promise<void> }[] = [];
  if (mode !== 'none') {
    const releaseOnReady = kubelet
      ? ['--release-on-ready', '--node-name', NODE, '--kubeconfig', kubelet.kubeconfig]
      : [];
    if (mode === 'ready-only') releaseOnReady.push('--ready-probe-interval', '0');
    if (UNMANAGED_MODES.includes(mode))
      releaseOnReady.push(`--count-unleased=${mode === 'unmanaged-counted'}`);
    server = await startBenchServer(o.node, [
      '--locks',
      String(o.slots),
      '--timeout',
      String(o.legacyTimeoutS),
      '--max-queue',
      String(o.apps + 10),
      ...releaseOnReady,
    ]);
    await kubelet?.watched();
    if (mode === 'legacy') init = legacyInit(server, null);
    if (mode === 'legacy-tuned') init = legacyInit(server, Math.ceil(o.workS));
    // The lease duration is only an upper bound here: the release on ready ends it.
    const upperBoundS = Math.max(o.legacyTimeoutS, Math.ceil(4 * o.workS));
    if (mode === 'startup-lock') init = acquireInit(o.node, server, upperBoundS);
    if (mode === 'lease-api') init = leaseApiInit(server, upperBoundS);
    if (kubelet) {
      const client = acquireInit(o.node, server, CLUSTER_LEASE_S);
      // The first --unmanaged apps have no init container: their app starts at once, without a lease.
      const unmanaged = UNMANAGED_MODES.includes(mode) ? o.unmanaged : 0;
      init = (i) => (i < unmanaged ? Promise.resolve({}) : client(i));
    }
  }
  const serverCpu0 = server ? procCpuMs(server.child.pid!) : 0;
  const childCpu0 = procCpuMs('self', true);
  const selfCpu0 = process.cpuUsage();
  const busy0 = machineBusyMs();
  const t0 = now();
  const pods = Array.from({ length: o.apps }, async (_, i): Promise<AppTimes> => {
    const launched = now();
    const granted = await init(i);
    const grantedAt = now();
    let report: Awaited<ReturnType<typeof runApp>>;
    if (kubelet) {
      // The lease is the server's to end: on the pod's Ready, or on its own probe of the app's port.
      const app = runListeningApp(o.node, appJs, iterations, kubelet.ports[i]!, () =>
        kubelet.containerStarted(i),
      );
      apps.push(app);
      report = await app.ready;
    } else report = await runApp(o.node, appJs, iterations, granted.releaseUrl);
    const s = (t: number) => (t - t0) / 1000;
    return {
      launchedS: s(launched),
      grantedS: s(grantedAt),
      processStartS: s(report.processStart),
      workStartS: s(report.workStart),
      readyS: s(report.ready),
      startupWallS: (report.ready - report.processStart) / 1000,
      startupCpuS: report.processCpuMs / 1000,
      releaseStatus: report.releaseStatus,
    };
  });
  let times: AppTimes[];
  let wallMs = 0;
  let busyMs = 0;
  let oursMs = 0;
  let serverCpuMs = 0;
  let harnessCpuMs = 0;
  try {
    times = await Promise.all(pods);
    // Reaped before the counters are read, so their CPU counts as ours (they are idle once ready).
    await Promise.all(apps.map((a) => a.stop()));
  } catch (err) {
    stopChildren();
    throw err;
  } finally {
    // Every counter is read before the server stops: once reaped, its whole life's CPU (its start-up
    // before the run and its shutdown after) would land in this process's children's CPU.
    wallMs = now() - t0;
    busyMs = machineBusyMs() - busy0;
    const self = process.cpuUsage(selfCpu0);
    serverCpuMs = server ? procCpuMs(server.child.pid!) - serverCpu0 : 0;
    harnessCpuMs = (self.user + self.system) / 1000;
    oursMs = procCpuMs('self', true) - childCpu0 + serverCpuMs + harnessCpuMs;
    await server?.stop();
    await kubelet?.stop();
  }
  const releaseReasons = server && kubelet ? server.releaseReasons() : undefined;

  const background = Math.max(0, busyMs - oursMs) / wallMs;
  const walls = times.map((a) => a.startupWallS).sort((a, b) => a - b);
  const makespanS = Math.max(...times.map((a) => a.readyS));
  const physicalLimitS = (o.apps * soloStartupCpuS) / CORES;
  const released = times.filter((a) => a.releaseStatus !== null);
  return {
    mode,
    ...(kubelet ? { probePeriodS: periodS } : {}),
    label: LABELS[mode](o, periodS),
    makespanS: round(makespanS),
    makespanFromFirstAppS: round(makespanS - Math.min(...times.map((a) => a.processStartS))),
    physicalLimitS: round(physicalLimitS),
    makespanOverLimit: round(makespanS / physicalLimitS),
    maxStartingAtOnce: mostAtOnce(times),
    startupWall: { meanS: round(mean(walls)), p99S: round(quantile(walls, 0.99)), minS: round(walls[0]!) },
    deadlineMisses: walls.filter((w) => w > o.deadlineS).length,
    waitMeanS: round(mean(times.map((a) => a.processStartS - a.launchedS))),
    startupCpuMeanS: round(mean(times.map((a) => a.startupCpuS))),
    serverCpuS: round(serverCpuMs / 1000),
    harnessCpuS: round(harnessCpuMs / 1000),
    overheadCpuS: round((oursMs - times.reduce((sum, a) => sum + a.startupCpuS * 1000, 0)) / 1000),
    backgroundCores: round(background),
    makespanOverLeftLimit: round(
      makespanS / ((o.apps * soloStartupCpuS) / Math.max(0.1, CORES - background)),
    ),
    releases:
      released.length > 0
        ? { ok: released.filter((a) => a.releaseStatus === 204).length, of: released.length }
        : null,
    ...(releaseReasons ? { releaseReasons } : {}),
    apps: times,
  };
}

// ---------------------------------------------------------------------------------------------

export interface HerdResult {
  date: string;
  machine: string;
  cores: number;
  definitions: Record<string, string>;
  options: HerdOptions;
  /** Node that ran the apps, clients and server. */
  node: string;
  calibration: {
    iterations: number;
    /** A lone app's start-up CPU, process start to ready: W as measured. */
    soloStartupCpuS: number;
    /** The part of it spent booting (before the busy loop). */
    soloBootCpuS: number;
    soloStartupWallS: number;
  };
  modes: ModeResult[];
}

export const DEFINITIONS = {
  makespan: 'from launching the first pod (its init client; with no lock, the app) to the last app ready',
  fromFirstApp:
    'makespan counted from the first app process start instead: leaves out the init step before it',
  W: 'an app’s start-up CPU from its process start to ready: its runtime’s boot, then a calibrated busy loop',
  startupWall:
    'per app, from its process start (the container, after the init step) to ready: what its probes see; the deadline applies to it',
  physicalLimit:
    'N·W / cores: the apps’ start-ups alone, spread perfectly over every core (W as measured on a lone app)',
  overheadCpu:
    'CPU of every process of the run (init clients, lock server, harness, apps after ready) beyond the apps’ start-ups',
  backgroundCores: 'CPU the rest of the machine used during the mode (other test suites), in cores',
  leftLimit:
    'herd.json makespanOverLeftLimit: makespan over N·W / (cores − background), the limit with only the CPU left free',
};

export async function runHerdBench(o: HerdOptions = herdOptions([])) {
  const { appJs, remove } = await buildApp();
  let neighbours: ChildProcess[] = [];
  try {
    const { iterations, solo } = await calibrate(o.node, appJs, o.workS);
    if (o.neighbour > 0) neighbours = startNeighbour(o.neighbour);
    progress(
      `calibrated: boot + ${iterations} steps = ${(solo.processCpuMs / 1000).toFixed(3)} CPU-s alone, boot ${(solo.processCpuMs - solo.workCpuMs).toFixed(0)} ms (wall ${((solo.ready - solo.processStart) / 1000).toFixed(3)} s)`,
    );
    // Each kubelet mode runs once per probe period; the others once.
    const runs = o.modes.flatMap((mode) =>
      KUBELET_MODES.includes(mode)
        ? o.probePeriodsS.map((p) => ({ mode, periodS: p }))
        : [{ mode, periodS: 0 }],
    );
    const rounds = new Map<string, ModeResult[]>(runs.map((r) => [`${r.mode}@${r.periodS}`, []]));
    for (let round = 1; round <= o.repeat; round++) {
      for (const { mode, periodS } of runs) {
        const m = await runMode(mode, o, appJs, iterations, solo.processCpuMs / 1000, periodS);
        const reasons = m.releaseReasons ? `, releases ${JSON.stringify(m.releaseReasons)}` : '';
        progress(
          `${o.repeat > 1 ? `round ${round}, ` : ''}${mode}${periodS ? ` (period ${periodS} s)` : ''}: makespan ${m.makespanS} s (${m.makespanOverLimit}× limit), start-up p99 ${m.startupWall.p99S} s, ${m.deadlineMisses}/${o.apps} over D, background ${m.backgroundCores} cores, overhead ${m.overheadCpuS} CPU-s (server ${m.serverCpuS}, harness ${m.harnessCpuS})${reasons}`,
        );
        rounds.get(`${mode}@${periodS}`)!.push(m);
      }
    }
    return report(
      o,
      iterations,
      solo,
      runs.map((r) => quietest(rounds.get(`${r.mode}@${r.periodS}`)!)),
    );
  } finally {
    for (const n of neighbours) n.kill('SIGKILL');
    remove();
  }
}

/**
 * Another workload on the node: ceil(C) processes, each busy C / ceil(C) of every 20 ms. Started
 * before the first mode and never reaped during one, so it counts as background, not as ours.
 */
function startNeighbour(cores: number): ChildProcess[] {
  const n = Math.ceil(cores);
  const busyMs = (20 * cores) / n;
  const script = `const t = new Int32Array(new SharedArrayBuffer(4));
    for (;;) { const end = Date.now() + ${busyMs}; while (Date.now() < end); Atomics.wait(t, 0, 0, ${20 - busyMs}); }`;
  return Array.from({ length: n }, () => track(spawn(process.execPath, ['-e', script], { stdio: 'ignore' })));
}

/**
 * The round to report: among the rounds the rest of the machine disturbed least (background within
 * QUIET_SLACK cores of the least), the median by makespan, so neither luck nor one slow start decides.
 */
function quietest(rounds: ModeResult[]): ModeResult {
  const least = Math.min(...rounds.map((r) => r.backgroundCores));
  const quiet = rounds
    .filter((r) => r.backgroundCores <= least + QUIET_SLACK)
    .sort((a, b) => a.makespanS - b.makespanS);
  const best = quiet[Math.floor((quiet.length - 1) / 2)]!;
  if (rounds.length === 1) return best;
  const summary = ({ apps: _apps, rounds: _rounds, ...figures }: ModeResult): RoundSummary => figures;
  return { ...best, rounds: rounds.map(summary) };
}

function report(o: HerdOptions, iterations: number, solo: AppReport, modes: ModeResult[]) {
  const result: HerdResult = {
    date: new Date().toISOString(),
    machine: machine(),
    cores: CORES,
    node: `Node ${nodeVersion(o.node) ?? '?'} (${o.node === process.execPath ? 'the Node running the benchmark' : o.node})`,
    definitions: DEFINITIONS,
    options: o,
    calibration: {
      iterations,
      soloStartupCpuS: round(solo.processCpuMs / 1000),
      soloBootCpuS: round((solo.processCpuMs - solo.workCpuMs) / 1000),
      soloStartupWallS: round((solo.ready - solo.processStart) / 1000),
    },
    modes,
  };
  return { result, rows: targetRows(result), modeTable: modeTable(result) };
}

/** The issue's targets, met or not, plus the originals' figures for comparison. */
function targetRows(r: HerdResult): [string, string, string, string][] {
  const o = r.options;
  const by = (m: ModeName) => r.modes.find((x) => x.mode === m);
  const rows: [string, string, string, string][] = [];
  const sl = by('startup-lock');
  const none = by('none');
  if (sl) {
    rows.push(
      [
        'startup-lock makespan / physical limit',
        `${sl.makespanOverLimit}× (${sl.makespanS} s / ${sl.physicalLimitS} s)`,
        '≤ 1.10×',
        ok(sl.makespanOverLimit <= 1.1),
      ],
      [
        'startup-lock, counted from the first app start',
        `${round(sl.makespanFromFirstAppS / sl.physicalLimitS)}× (${sl.makespanFromFirstAppS} s)`,
        '',
        '',
      ],
      [
        'startup-lock app start-up wall, p99',
        `${sl.startupWall.p99S} s (${round(sl.startupWall.p99S / o.workS)} W)`,
        '≤ 1.2 W',
        ok(sl.startupWall.p99S <= 1.2 * o.workS),
      ],
      [
        `startup-lock apps over D = ${o.deadlineS} s`,
        `${sl.deadlineMisses}/${o.apps}`,
        '0',
        ok(sl.deadlineMisses === 0),
      ],
    );
  }
  if (none)
    rows.push([
      `no lock: apps over D = ${o.deadlineS} s`,
      `${none.deadlineMisses}/${o.apps}`,
      `${o.apps}/${o.apps} (the herd)`,
      ok(none.deadlineMisses === o.apps),
    ]);
  const periods = [...new Set(r.modes.flatMap((m) => (m.probePeriodS ? [m.probePeriodS] : [])))];
  for (const p of periods) {
    const at = (mode: ModeName) => r.modes.find((x) => x.mode === mode && x.probePeriodS === p);
    const own = at('own-probe');
    const readyOnly = at('ready-only');
    if (own)
      rows.push([
        `kubelet probes every ${p} s: server's own probing, makespan / limit`,
        `${own.makespanOverLimit}× (${own.makespanS} s)${own.releaseReasons ? `, releases ${reasonsOf(own)}` : ''}`,
        '≤ 1.15×',
        ok(own.makespanOverLimit <= 1.15),
      ]);
    if (readyOnly)
      rows.push([
        `kubelet probes every ${p} s: release on Ready only, makespan / limit`,
        `${readyOnly.makespanOverLimit}× (${readyOnly.makespanS} s)${readyOnly.releaseReasons ? `, releases ${reasonsOf(readyOnly)}` : ''}`,
        p === 10 ? '≥ 5× (the problem)' : '',
        p === 10 ? ok(readyOnly.makespanOverLimit >= 5) : '',
      ]);
  }
  for (const p of periods) {
    const at = (mode: ModeName) => r.modes.find((x) => x.mode === mode && x.probePeriodS === p);
    for (const m of [at('unmanaged-counted'), at('unmanaged-unseen')])
      if (m)
        rows.push([
          `${m.label}: makespan / limit, most start-ups at once`,
          `${m.makespanOverLimit}× (${m.makespanS} s), ${m.maxStartingAtOnce} at once`,
          '',
          '',
        ]);
  }
  const diagnostic = by('lease-api');
  if (sl && diagnostic)
    rows.push([
      'startup-lock: CPU per acquire process (overhead over the diagnostic’s, per pod)',
      `${Math.round(((sl.overheadCpuS - diagnostic.overheadCpuS) * 1000) / o.apps)} ms`,
      '',
      '',
    ]);
  for (const m of ['legacy', 'legacy-tuned', 'lease-api'] as const) {
    const x = by(m);
    if (x)
      rows.push([
        `${x.label}: makespan / limit`,
        `${x.makespanOverLimit}× (${x.makespanS} s), ${x.deadlineMisses} over D`,
        '',
        '',
      ]);
  }
  return rows;
}

function modeTable(r: HerdResult): string {
  const head = [
    'mode',
    'makespan',
    '× limit',
    'from 1st app',
    'start-up mean',
    'start-up p99',
    'at once',
    `> D (${r.options.deadlineS} s)`,
    'wait mean',
    'overhead CPU',
    'background',
  ];
  const rows = r.modes.map((m) => [
    m.label,
    `${m.makespanS.toFixed(2)} s`,
    `${m.makespanOverLimit.toFixed(2)}×`,
    `${m.makespanFromFirstAppS.toFixed(2)} s (${(m.makespanFromFirstAppS / m.physicalLimitS).toFixed(2)}×)`,
    `${m.startupWall.meanS.toFixed(2)} s`,
    `${m.startupWall.p99S.toFixed(2)} s`,
    String(m.maxStartingAtOnce),
    `${m.deadlineMisses}/${r.options.apps}`,
    `${m.waitMeanS.toFixed(2)} s`,
    `${m.overheadCpuS.toFixed(2)} s`,
    `${m.backgroundCores.toFixed(2)} cores`,
  ]);
  return grid(head, rows);
}

function grid(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function herdHeader(r: HerdResult): string {
  const o = r.options;
  return [
    `startup-lock herd benchmark — ${r.date}`,
    r.machine,
    `apps, acquire clients and lock server on ${r.node}`,
    `N = ${o.apps} apps, W = ${o.workS} CPU-s each, process start to ready (alone: ${r.calibration.soloStartupCpuS} CPU-s, of which boot ${r.calibration.soloBootCpuS}, then ${r.calibration.iterations} loop steps; ${r.calibration.soloStartupWallS} s wall), slots = ${o.slots}, D = ${o.deadlineS} s, physical limit N·W/cores = ${round((o.apps * r.calibration.soloStartupCpuS) / r.cores)} s${o.neighbour > 0 ? `; a neighbour workload wants ${o.neighbour} cores (busy loops) throughout` : ''}`,
    o.repeat > 1
      ? `${o.repeat} rounds of every mode, interleaved; each mode shows the median (by makespan) of its quietest rounds (background within ${QUIET_SLACK} cores of its least)`
      : 'one round of every mode (--repeat K: the median of the quietest of K)',
    ...Object.entries(r.definitions).map(([k, v]) => `  ${k}: ${v}`),
  ].join('\n');
}

const progress = (msg: string) => process.stderr.write(`bench:herd ${msg}\n`);
const round = (n: number) => Math.round(n * 100) / 100;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ok = (b: boolean) => (b ? 'yes' : 'NO');
const reasonsOf = (m: ModeResult) =>
  Object.entries(m.releaseReasons ?? {})
    .map(([reason, n]) => `${n} ${reason}`)
    .join(', ');

if (isMain(import.meta.url)) {
  let options: HerdOptions;
  try {
    if (process.argv.includes('--help') || process.argv.includes('-h')) {
      console.log(HELP);
      process.exit(0);
    }
    options = herdOptions(process.argv.slice(2));
  } catch (err) {
    const lines = err instanceof HerdUsageError ? err.problems : [(err as Error).message];
    for (const line of lines) process.stderr.write(`bench:herd: ${line}\n`);
    process.exit(2);
  }
  const { result, rows, modeTable } = await runHerdBench(options);
  console.log(`\n${herdHeader(result)}\n`);
  console.log(modeTable);
  console.log('');
  console.log(table(rows));
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(new URL('./herd.json', RESULTS), `${JSON.stringify(result, null, 2)}\n`);
}
