// `npm run bench:load`: the lock server under the load a node full of waiting pods puts on it.
//  1. the legacy 423 path every waiting pod of an old client hits, at 64 connections;
//  2. grant hand-off latency: from the holder's DELETE to the waiting long poll's 200;
//  3. memory with 1,000 long polls waiting at once.
// BENCH_NODE picks the Node binary (default: the one running the bench), BENCH_NODE_FLAGS its flags
// (e.g. the image's `--max-semi-space-size=1`), to compare them in one session.
import { setMaxListeners } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';
import { isMain, machine, quantile, rssOf, startBenchServer, table } from './lib.js';

const CONNECTIONS = 64;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const HANDOFFS = Number(process.env.BENCH_HANDOFFS ?? 300);
const WAITERS = Number(process.env.BENCH_WAITERS ?? 1000);
const NODE = process.env.BENCH_NODE ?? process.execPath;
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);

interface Reply {
  status: number;
  body: string;
}

function call(agent: Agent, url: string, method = 'GET', signal?: AbortSignal): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, signal }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function queueLength(agent: Agent, url: string): Promise<number> {
  const st = JSON.parse((await call(agent, `${url}/v1/status`)).body) as { queue: { connected: boolean }[] };
  return st.queue.filter((w) => w.connected).length;
}

async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 5));
}

export async function runLoadBench() {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

  // 1. The 423 path while the lock is held.
  const s1 = await startBenchServer(NODE, ['--max-queue', '5000'], NODE_FLAGS);
  await call(agent, `${s1.url}/?duration=600`);
  const ac = await autocannon({
    url: `${s1.url}/`,
    connections: CONNECTIONS,
    duration: SECONDS,
    pipelining: 1,
  });
  const non423 = ac.non2xx - (ac.statusCodeStats?.['423' as '200']?.count ?? 0);
  await s1.stop();

  progress(`legacy path: ${Math.round(ac.requests.average)} req/s`);

  // 2. Hand-off latency: one holder, one waiting long poll, release, time to the grant.
  const s2 = await startBenchServer(NODE, [], NODE_FLAGS);
  const handoffs: number[] = [];
  let holder = JSON.parse(
    (await call(agent, `${s2.url}/v1/leases?holder=bench/h0&duration=60`, 'POST')).body,
  ) as {
    id: string;
  };
  for (let i = 1; i <= HANDOFFS; i++) {
    const waiting = call(agent, `${s2.url}/v1/leases?holder=bench/h${i}&duration=60&wait=30`, 'POST');
    await waitFor(async () => (await queueLength(agent, s2.url)) === 1);
    const t0 = process.hrtime.bigint();
    const released = call(agent, `${s2.url}/v1/leases/${holder.id}`, 'DELETE');
    const granted = await waiting;
    handoffs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await released;
    if (granted.status !== 200)
      throw new Error(`hand-off ${i} was not granted: ${granted.status} ${granted.body}`);
    holder = JSON.parse(granted.body) as { id: string };
  }
  await s2.stop();
  handoffs.sort((a, b) => a - b);

  progress(`hand-off: ${handoffs.length} samples`);

  // 3. Memory with many long polls open at once.
  const s3 = await startBenchServer(
    NODE,
    ['--max-queue', String(WAITERS + 10), '--max-wait', '120'],
    NODE_FLAGS,
  );
  await call(agent, `${s3.url}/?duration=600`);
  const rssIdle = rssOf(s3.child.pid!);
  const abort = new AbortController();
  setMaxListeners(WAITERS + 10, abort.signal);
  const polls = Array.from({ length: WAITERS }, (_, i) =>
    call(agent, `${s3.url}/v1/leases?holder=bench/w${i}&wait=110`, 'POST', abort.signal).catch(() => null),
  );
  await waitFor(async () => (await queueLength(agent, s3.url)) === WAITERS);
  const waiting = await queueLength(agent, s3.url);
  const rssWaiting = rssOf(s3.child.pid!);
  abort.abort();
  await Promise.all(polls);
  await s3.stop();
  agent.destroy();

  const result = {
    date: new Date().toISOString(),
    machine: machine(),
    legacy423: {
      connections: CONNECTIONS,
      seconds: SECONDS,
      requestsPerSecond: Math.round(ac.requests.average),
      latencyP50Ms: ac.latency.p50,
      latencyP99Ms: ac.latency.p99,
      errors: ac.errors + ac.timeouts + non423,
    },
    handoff: {
      samples: handoffs.length,
      medianMs: round(quantile(handoffs, 0.5)),
      p99Ms: round(quantile(handoffs, 0.99)),
    },
    longPolls: { waiting, rssIdleMB: round(rssIdle / 2 ** 20), rssMB: round(rssWaiting / 2 ** 20) },
  };
  const rows: [string, string, string, string][] = [
    [
      'legacy 423 path, req/s (64 conns)',
      String(result.legacy423.requestsPerSecond),
      '≥ 15000',
      ok(result.legacy423.requestsPerSecond >= 15000),
    ],
    [
      'legacy 423 path, p99 latency',
      `${result.legacy423.latencyP99Ms} ms`,
      '< 10 ms',
      ok(result.legacy423.latencyP99Ms < 10),
    ],
    [
      'legacy 423 path, errors / non-423',
      String(result.legacy423.errors),
      '0',
      ok(result.legacy423.errors === 0),
    ],
    ['grant hand-off, median', `${result.handoff.medianMs} ms`, '< 5 ms', ok(result.handoff.medianMs < 5)],
    ['grant hand-off, p99', `${result.handoff.p99Ms} ms`, '', ''],
    ['RSS idle, lock held', `${result.longPolls.rssIdleMB} MB`, '', ''],
    [
      `RSS with ${waiting} waiting long polls`,
      `${result.longPolls.rssMB} MB`,
      '< 100 MB',
      ok(result.longPolls.rssMB < 100),
    ],
  ];
  return { result, rows };
}

const progress = (msg: string) => process.stderr.write(`bench:load ${msg}\n`);
const round = (n: number) => Math.round(n * 100) / 100;
const ok = (b: boolean) => (b ? 'yes' : 'NO');

if (isMain(import.meta.url)) {
  const { result, rows } = await runLoadBench();
  console.log(`\nstartup-lock load benchmark — ${result.date}\n${result.machine}\n`);
  console.log(table(rows));
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/load.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
}
