// `npm run bench:footprint`: where the lock server's memory goes, on the image's Node 24
// (scripts/image-node.sh) and on the Node running the bench. Each figure is a fresh process.
//  1. the cost of importing each runtime dependency (RSS and heap, after two full GCs);
//  2. the server idle: no Kubernetes features; `--release-on-ready --events` over a fake API holding
//     110 pods on the node; the same after every pod changed twice on the watch;
//  3. one list+watch of the node's 110 pods through the lean path (src/kube/) and through
//     @kubernetes/client-node, in a process that does only that;
//  4. V8 flags for a low-traffic server: RSS idle and after the 64-connection legacy load, and the load's
//     throughput (timings move with whatever else the machine runs; RSS does not).
// BENCH_NODES=image,current (default) picks the Nodes; BENCH_SECONDS (default 5) the load's length,
// BENCH_REPEAT (default 3) its interleaved rounds;
// BENCH_PARTS=imports,server,watch,flags (default all) the parts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { FakeKubeApi } from '../test/support/fake-kube-api.js';
import { BIN, isMain, machine, rssOf } from './lib.js';

const PODS = 110;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const PARTS = (process.env.BENCH_PARTS ?? 'imports,server,watch,flags').split(',');
const PROBE = fileURLToPath(new URL('./footprint-probe.mjs', import.meta.url));
const LEAN_WATCH = fileURLToPath(new URL('./footprint-lean-watch.mjs', import.meta.url));
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
  ['--optimize-for-size', ['--optimize-for-size']],
  ['--max-old-space-size=64', ['--max-old-space-size=64']],
  ['--lite-mode', ['--lite-mode']],
  ['--max-semi-space-size=1 --optimize-for-size', ['--max-semi-space-size=1', '--optimize-for-size']],
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
async function startServer(node: string, flags: string[], args: string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(
    node,
    [...flags, BIN, 'server', '--host', '127.0.0.1', '--port', '0', ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
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
    rss: () => rssOf(child.pid!),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        // The preloaded lean watch is not the server's to close: its open stream would keep it alive.
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

async function fakeApiWithPods(): Promise<{ api: FakeKubeApi; kubeconfig: string }> {
  const api = await FakeKubeApi.start();
  for (let i = 0; i < PODS; i++) {
    api.create('pods', {
      metadata: { name: `app-${i}`, namespace: `ns-${i % 10}`, labels: { app: `app-${i}` } },
      spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'registry.example/app:1.0' }] },
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

/** Every pod on n1 changes `times` times (watchers see MODIFIED). */
function churn(api: FakeKubeApi, times: number): void {
  for (let t = 0; t < times; t++) {
    for (let i = 0; i < PODS; i++) {
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
  const rows: string[][] = [
    ['no Kubernetes features, idle'],
    [`--release-on-ready --events (client-node), ${PODS} pods, idle`],
    [`the same after ${PODS * 2} pod changes on the watch`],
    [`no features + the lean path's list+watch of the ${PODS} pods in-process, idle`],
    [`the same after ${PODS * 2} pod changes on the watch`],
  ];
  for (const [, node] of list) {
    const plain = await startServer(node, [], []);
    await sleep(2000);
    rows[0]!.push(`${mb(plain.rss())} MB`);
    await plain.stop();
    for (const [row, flags, args] of [
      [1, [], ['--release-on-ready', '--events', '--node-name', 'n1', '--kubeconfig']],
      [3, ['--import', LEAN_WATCH], ['--kubeconfig']],
    ] as const) {
      const { api, kubeconfig } = await fakeApiWithPods();
      const s = await startServer(node, [...flags], [...args, kubeconfig], {
        FOOTPRINT_KUBECONFIG: kubeconfig,
        FOOTPRINT_NODE: 'n1',
      });
      await api.waitForWatches('pods');
      await sleep(2000);
      rows[row]!.push(`${mb(s.rss())} MB`);
      churn(api, 2);
      await sleep(2000);
      rows[row + 1]!.push(`${mb(s.rss())} MB`);
      await s.stop();
      await api.close();
    }
  }
  print('The server (RSS)', ['server', ...list.map(([v]) => v)], rows);
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
  for (let round = 0; round < REPEAT; round++) {
    for (const [version, node] of list) {
      for (const [name, set] of FLAG_SETS) {
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

export async function runFootprintBench(): Promise<void> {
  const list = nodes();
  console.log(
    `footprint: ${new Date().toISOString()}, ${machine()}; Nodes: ${list.map(([v]) => v).join(', ')}`,
  );
  if (PARTS.includes('imports')) await imports(list);
  if (PARTS.includes('server')) await servers(list);
  if (PARTS.includes('watch')) await watches(list);
  if (PARTS.includes('flags')) await flags(list);
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
