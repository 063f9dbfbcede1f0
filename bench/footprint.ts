// `npm run bench:footprint`: where the lock server's memory goes, on the image's Node 24
// (scripts/image-node.sh) and on the Node running the bench. Each figure is a fresh process.
//  1. the cost of importing each runtime dependency (RSS and heap, after two full GCs);
//  2. the server idle (RSS, and V8 heap used after full GCs): no Kubernetes features; then
//     `--release-on-ready --events` over a fake API holding 0, 110 and 440 pods on the node; the last
//     after every pod changed twice on the watch (how memory grows with the node's pods);
//  3. one list+watch of the node's 110 pods through the lean path (src/kube/) and through
//     @kubernetes/client-node, in a process that does only that;
//  4. V8 flags for a low-traffic server: RSS idle and after the 64-connection legacy load, and the load's
//     throughput (timings move with whatever else the machine runs; RSS does not).
//  5. the node's lock as shipped (the flags of the image's entrypoint), every node feature on: release-on-ready with
//     its own probing, --events, one HTTP check, metrics scraped every 5 s, over a fake API holding 110
//     pods: idle, with 1,000 waiting long polls, after the 64-connection legacy load, and through a
//     watch churn (a pod changed every 100 ms for BENCH_CHURN_SECONDS, default 60) with the RSS slope by
//     linear fit after the first fifth; side by side with the original Go lock when BENCH_GO_LOCK names
//     its binary (pod-startup-lock's `lock`).
// BENCH_NODES=image,current (default) picks the Nodes; BENCH_SECONDS (default 5) the load's length,
// BENCH_REPEAT (default 3) its interleaved rounds;
// BENCH_PARTS=imports,server,watch,flags,node (default all) the parts; BENCH_FLAGS some flag sets.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, createServer, request, type ClientRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { FakeKubeApi } from '../test/support/fake-kube-api.js';
import { BIN, isMain, machine, rssOf } from './lib.js';

const PODS = 110;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const PARTS = (process.env.BENCH_PARTS ?? 'imports,server,watch,flags,node').split(',');
const CHURN_SECONDS = Number(process.env.BENCH_CHURN_SECONDS ?? 60);
const WAITERS = 1000;
const PROBE = fileURLToPath(new URL('./footprint-probe.mjs', import.meta.url));
const HEAP_PRELOAD = fileURLToPath(new URL('./footprint-heap.mjs', import.meta.url));
const MODULES = [
  'node:http',
  'node:https',
  '@kubernetes/client-node',
  'got',
  'express',
  'prom-client',
  'pino',
  'convict',
  'yaml',
];
const FLAG_SETS: [string, string[]][] = [
  ['(none)', []],
  ['--max-semi-space-size=1', ['--max-semi-space-size=1']],
  ['--max-semi-space-size=2', ['--max-semi-space-size=2']],
  ['--max-semi-space-size=1 --v8-pool-size=1', ['--max-semi-space-size=1', '--v8-pool-size=1']],
  ['--optimize-for-size', ['--optimize-for-size']],
  ['--lite-mode', ['--lite-mode']],
  ['--jitless', ['--jitless']],
];

interface Sample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}
interface ProbeResult {
  before: Sample;
  after: Sample;
  ms: number;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function nodes(): [string, string][] {
  const wanted = (process.env.BENCH_NODES ?? 'image,current').split(',');
  const found: [string, string][] = [];
  for (const which of wanted) {
    const bin =
      which === 'image'
        ? execFileSync('bash', [fileURLToPath(new URL('../scripts/image-node.sh', import.meta.url))], {
            encoding: 'utf8',
          }).trim()
        : which === 'current'
          ? process.execPath
          : which;
    found.push([execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim(), bin]);
  }
  return found;
}

function probe(node: string, args: string[]): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, ['--expose-gc', PROBE, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as ProbeResult)
        : reject(new Error(`probe ${args.join(' ')}: ${code}`)),
    );
  });
}

/** The built server on `node` with V8 `flags`; resolves once it listens. */
async function startServer(node: string, flags: string[], args: string[]) {
  const heapFile = join(
    tmpdir(),
    `startup-lock-footprint-${process.pid}-${Math.random().toString(36).slice(2)}.json`,
  );
  const child: ChildProcess = spawn(
    node,
    [...flags, BIN, 'server', '--host', '127.0.0.1', '--port', '0', ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, FOOTPRINT_HEAP_FILE: heapFile },
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    rss: () => rssOf(child.pid!),
    /** V8 heap used after full GCs (the server must run with HEAP_PRELOAD). */
    heap: async () => {
      child.kill('SIGUSR2');
      for (let i = 0; i < 50 && !existsSync(heapFile); i++) await sleep(20);
      const used = (JSON.parse(readFileSync(heapFile, 'utf8')) as { heapUsed: number }).heapUsed;
      rmSync(heapFile);
      return used;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

/** 110 pods on n1 (with an HTTP readiness probe on `probePort` when given) and 50 elsewhere. */
async function fakeApiWithPods(
  probePort?: number,
  pods = PODS,
): Promise<{ api: FakeKubeApi; kubeconfig: string }> {
  const api = await FakeKubeApi.start();
  const probe =
    probePort === undefined ? {} : { readinessProbe: { httpGet: { path: '/', port: probePort } } };
  for (let i = 0; i < pods; i++) {
    api.create('pods', {
      metadata: { name: `app-${i}`, namespace: `ns-${i % 10}`, labels: { app: `app-${i}` } },
      spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'registry.example/app:1.0', ...probe }] },
      status: {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'registry.example/app:1.0' }],
      },
    });
  }
  // Pods on other nodes, which the field selector leaves out.
  for (let i = 0; i < 50; i++) {
    api.create('pods', { metadata: { name: `other-${i}`, namespace: 'ns-0' }, spec: { nodeName: 'n2' } });
  }
  return { api, kubeconfig: await api.writeKubeconfig() };
}

/** The server's flags for release-on-ready and Events on node n1. */
function nodeFeatures(kubeconfig: string): string[] {
  return ['--release-on-ready', '--events', '--node-name', 'n1', '--kubeconfig', kubeconfig];
}

/** Every pod on n1 changes `times` times (watchers see MODIFIED). */
function churn(api: FakeKubeApi, times: number, pods = PODS): void {
  for (let t = 0; t < times; t++) {
    for (let i = 0; i < pods; i++) {
      api.patch('pods', `ns-${i % 10}`, `app-${i}`, { metadata: { annotations: { churn: `${t}` } } });
    }
  }
}

function print(title: string, head: string[], rows: string[][]): void {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\n### ${title}\n`);
  console.log(
    [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'),
  );
}

async function imports(list: [string, string][]): Promise<void> {
  const rows: string[][] = [];
  for (const module of MODULES) {
    const row = [module];
    for (const [, node] of list) {
      const r = await probe(node, ['import', module]);
      row.push(
        `+${mb(r.after.rss - r.before.rss)} MB (heap +${mb(r.after.heapUsed - r.before.heapUsed)}), ${Math.round(r.ms)} ms`,
      );
    }
    rows.push(row);
  }
  const bare = await Promise.all(list.map(([, node]) => probe(node, ['import', 'node:os'])));
  rows.unshift(['(a bare node process)', ...bare.map((r) => `${mb(r.before.rss)} MB`)]);
  print(
    'Importing each dependency in a fresh process (RSS delta after GC)',
    ['module', ...list.map(([v]) => v)],
    rows,
  );
}

async function servers(list: [string, string][]): Promise<void> {
  const pods = [0, PODS, 4 * PODS];
  const rows: string[][] = [
    ['no Kubernetes features, idle'],
    ...pods.map((n) => [`--release-on-ready --events, ${n} pods on the node, idle`]),
    [`the same, ${4 * PODS} pods, after ${8 * PODS} pod changes on the watch`],
  ];
  for (const [, node] of list) {
    const preload = ['--expose-gc', '--import', HEAP_PRELOAD];
    const plain = await startServer(node, preload, []);
    await sleep(2000);
    rows[0]!.push(`${mb(plain.rss())} MB (heap ${mb(await plain.heap())})`);
    await plain.stop();
    for (const [i, n] of pods.entries()) {
      const { api, kubeconfig } = await fakeApiWithPods(undefined, n);
      const s = await startServer(node, preload, nodeFeatures(kubeconfig));
      await api.waitForWatches('pods');
      await sleep(2000);
      rows[i + 1]!.push(`${mb(s.rss())} MB (heap ${mb(await s.heap())})`);
      if (n === 4 * PODS) {
        churn(api, 2, n);
        await sleep(2000);
        rows[pods.length + 1]!.push(`${mb(s.rss())} MB (heap ${mb(await s.heap())})`);
      }
      await s.stop();
      await api.close();
    }
  }
  print('The server (RSS; V8 heap used after a full GC)', ['server', ...list.map(([v]) => v)], rows);
}

async function watches(list: [string, string][]): Promise<void> {
  const rows: string[][] = [];
  for (const client of ['lean', 'client-node']) {
    const row = [client === 'lean' ? 'lean path (src/kube, node:https)' : '@kubernetes/client-node'];
    for (const [, node] of list) {
      const { api, kubeconfig } = await fakeApiWithPods();
      const result = probe(node, ['watch', client, kubeconfig, 'n1', String(PODS)]);
      await api.waitForWatches('pods');
      churn(api, 2);
      const r = await result;
      await api.close();
      row.push(`${mb(r.after.rss)} MB (+${mb(r.after.rss - r.before.rss)}; heap ${mb(r.after.heapUsed)})`);
    }
    rows.push(row);
  }
  print(
    `A process that lists and watches ${PODS} pods, after ${PODS * 2} changes (RSS; + over the bare process)`,
    ['client', ...list.map(([v]) => v)],
    rows,
  );
}

async function legacyLoad(url: string): Promise<number> {
  await fetch(`${url}/?duration=600`);
  const ac = await autocannon({ url: `${url}/`, connections: 64, duration: SECONDS, pipelining: 1 });
  return ac.requests.average;
}

async function flags(list: [string, string][]): Promise<void> {
  // Rounds interleave the flag sets, so a neighbour's burst of CPU falls on all of them alike.
  const results = new Map<string, { idle: number[]; after: number[]; rps: number[]; error?: string }>();
  // BENCH_FLAGS='(none);--max-semi-space-size=1' picks some of the sets (by name, `;`-separated).
  const picked = process.env.BENCH_FLAGS?.split(';');
  const sets = FLAG_SETS.filter(([name]) => picked === undefined || picked.includes(name));
  for (let round = 0; round < REPEAT; round++) {
    for (const [version, node] of list) {
      for (const [name, set] of sets) {
        const key = `${version} ${name}`;
        const r = results.get(key) ?? { idle: [], after: [], rps: [] };
        results.set(key, r);
        let s;
        try {
          s = await startServer(node, set, ['--max-queue', '5000']);
        } catch (err) {
          r.error = `does not start: ${(err as Error).message}`;
          continue;
        }
        await sleep(1500);
        r.idle.push(s.rss());
        r.rps.push(await legacyLoad(s.url));
        r.after.push(s.rss());
        await s.stop();
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const rows = [...results].map(([key, r]) => {
    const [version, ...flagWords] = key.split(' ');
    if (r.error !== undefined) return [version!, flagWords.join(' '), r.error, '', ''];
    const rps = [...r.rps].sort((a, b) => a - b).map((x) => Math.round(x));
    return [
      version!,
      flagWords.join(' '),
      `${mb(median(r.idle))} MB`,
      `${mb(median(r.after))} MB`,
      `${Math.round(median(r.rps))} (${rps[0]}–${rps[rps.length - 1]})`,
    ];
  });
  print(
    `V8 flags: the server idle, after ${SECONDS} s of the 64-connection legacy load, and its throughput (median of ${REPEAT} interleaved rounds; req/s range)`,
    ['node', 'flags', 'idle RSS', 'after load', 'req/s'],
    rows,
  );
}

/** The Node flags the image's entrypoint passes (Dockerfile `ENTRYPOINT ["node", flags…, program]`). */
function imageNodeOptions(): string[] {
  const dockerfile = readFileSync(fileURLToPath(new URL('../Dockerfile', import.meta.url)), 'utf8');
  const m = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
  const entrypoint = m ? (JSON.parse(m[1]!) as string[]) : [];
  return entrypoint.filter((word) => word.startsWith('--'));
}

/** Anonymous and file-backed resident memory (the latter mostly the node binary's own pages). */
function rssParts(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') };
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** `count` long polls waiting in the queue; resolves once the server's status shows them all. */
async function waitingPolls(url: string, count: number): Promise<() => void> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const requests: ClientRequest[] = [];
  for (let i = 0; i < count; i++) {
    const req = request(`${url}/v1/leases?holder=waiting/w-${i}&duration=60&wait=60`, {
      method: 'POST',
      agent,
    });
    req.on('error', () => {});
    req.on('response', (res) => res.resume());
    req.end();
    requests.push(req);
  }
  for (let tries = 0; tries < 600; tries++) {
    const status = (await (await fetch(`${url}/v1/status`)).json()) as { queue: unknown[] };
    if (status.queue.length >= count) break;
    await sleep(100);
  }
  return () => {
    for (const req of requests) req.destroy();
    agent.destroy();
  };
}

interface LockUnderTest {
  name: string;
  start(): Promise<{ url: string; pid: number; stop(): Promise<void> }>;
  /** Long polls (the lease API) or, for the original, open connections that polled once. */
  polls: boolean;
  features: boolean;
}

async function nodeLock(list: [string, string][]): Promise<void> {
  const flagsUsed = imageNodeOptions();
  const app = createServer((_req, res) => res.writeHead(200).end('ok'));
  app.listen(0, '127.0.0.1');
  await new Promise((r) => app.once('listening', r));
  const appPort = (app.address() as AddressInfo).port;
  const locks: LockUnderTest[] = list.map(([version, node]) => ({
    name: `startup-lock, ${version} ${flagsUsed.join(' ') || '(no flags)'}`,
    polls: true,
    features: true,
    start: async () => {
      const { api, kubeconfig } = await fakeApiWithPods(appPort);
      const s = await startServer(node, flagsUsed, [
        ...nodeFeatures(kubeconfig),
        '--check',
        `http://127.0.0.1:${appPort}/`,
      ]);
      await api.waitForWatches('pods');
      lockApis.set(s.url, api);
      return { url: s.url, pid: s.pid, stop: async () => (await s.stop(), await api.close()) };
    },
  }));
  const goLock = process.env.BENCH_GO_LOCK;
  if (goLock) {
    locks.push({
      name: 'pod-startup-lock (Go)',
      polls: false,
      features: false,
      start: async () => {
        const port = await freePort();
        const child = spawn(goLock, ['--port', String(port), '--locks', '1', '--timeout', '600'], {
          stdio: 'ignore',
        });
        for (let i = 0; i < 100; i++) {
          if (
            await fetch(`http://127.0.0.1:${port}/`).then(
              () => true,
              () => false,
            )
          )
            break;
          await sleep(100);
        }
        return {
          url: `http://127.0.0.1:${port}`,
          pid: child.pid!,
          stop: () => new Promise<void>((r) => (child.once('exit', () => r()), child.kill('SIGTERM'))),
        };
      },
    });
  }
  const rows: string[][] = [];
  const fmt = (pid: number) => {
    const { anon, file } = rssParts(pid);
    return `${mb(rssOf(pid))} MB (${mb(anon)} + ${mb(file)})`;
  };
  for (const lock of locks) {
    const s = await lock.start();
    const scrape = setInterval(
      () =>
        void fetch(`${s.url}/metrics`).then(
          (r) => r.text(),
          () => '',
        ),
      5000,
    );
    await fetch(`${s.url}/metrics`).then((r) => r.text());
    await sleep(3000);
    const row = [lock.name, fmt(s.pid)];
    // The slot held, then 1,000 waiters; the original has no queue: 1,000 connections that polled.
    if (lock.polls) {
      const held = await fetch(`${s.url}/v1/leases?holder=bench/holder&duration=600`, { method: 'POST' });
      await held.arrayBuffer();
      const release = await waitingPolls(s.url, WAITERS);
      await sleep(1000);
      row.push(fmt(s.pid));
      release();
    } else {
      const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
      await Promise.all(
        Array.from(
          { length: WAITERS },
          () =>
            new Promise<void>((r) =>
              request(`${s.url}/`, { agent }, (res) => (res.resume(), res.on('end', r))).end(),
            ),
        ),
      );
      await sleep(1000);
      row.push(fmt(s.pid));
      agent.destroy();
    }
    await sleep(1000);
    await legacyLoad(s.url);
    await sleep(1000);
    row.push(fmt(s.pid));
    const api = lockApis.get(s.url);
    if (api !== undefined) {
      const samples: [number, number][] = [];
      const started = Date.now();
      let k = 0;
      const churner = setInterval(() => {
        const i = k++ % PODS;
        api.patch('pods', `ns-${i % 10}`, `app-${i}`, { metadata: { annotations: { churn: String(k) } } });
      }, 100);
      while (Date.now() - started < CHURN_SECONDS * 1000) {
        await sleep(1000);
        samples.push([(Date.now() - started) / 60_000, rssOf(s.pid) / 2 ** 20]);
      }
      clearInterval(churner);
      const warm = samples.slice(Math.floor(samples.length / 5));
      const ys = warm.map(([, y]) => y);
      row.push(
        `${fmt(s.pid)}; ${Math.min(...ys).toFixed(1)}–${Math.max(...ys).toFixed(1)} MB, slope ${slope(warm).toFixed(2)} MB/min`,
      );
    } else row.push('(no Kubernetes features)');
    clearInterval(scrape);
    await s.stop();
    rows.push(row);
  }
  app.close();
  print(
    `The node's lock as shipped, every node feature on, ${PODS} pods on the node (RSS: anonymous + file-backed)`,
    [
      'lock',
      'idle',
      `${WAITERS} waiting polls`,
      `after ${SECONDS} s of 64-connection load`,
      `watch churn, a pod every 100 ms for ${CHURN_SECONDS} s (end; range and slope after the first fifth)`,
    ],
    rows,
  );
}

const lockApis = new Map<string, FakeKubeApi>();

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

export async function runFootprintBench(): Promise<void> {
  const list = nodes();
  console.log(
    `footprint: ${new Date().toISOString()}, ${machine()}; Nodes: ${list.map(([v]) => v).join(', ')}`,
  );
  if (PARTS.includes('imports')) await imports(list);
  if (PARTS.includes('server')) await servers(list);
  if (PARTS.includes('watch')) await watches(list);
  if (PARTS.includes('flags')) await flags(list);
  if (PARTS.includes('node')) await nodeLock(list);
}

if (isMain(import.meta.url)) {
  runFootprintBench().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
