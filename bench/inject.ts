// `npm run bench:inject`: admission latency of the real `startup-lock inject` over TLS, and its memory.
// The injector runs as a process as the chart deploys it by default: it keeps its own certificate,
// here against the fake API server of the tests (Secret, caBundle); the client trusts the caBundle and
// reuses one keep-alive TLS connection per worker, as the API server does. RSS is also measured for
// the cert-manager mode (certificate from files, no Kubernetes client loaded). Each review is a plain pod that gets the container injected (the full path:
// parse, decide, build and encode the patch). Prints p50/p99 of N sequential reviews, then of N reviews
// 8 at a time, and the injector's RSS before and after.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import path from 'node:path';
import { FakeKubeApi } from '../test/support/fake-kube-api.js';
import { makeThrowawayCa } from '../test/support/throwaway-ca.js';
import { BIN, isMain, machine, quantile, rssOf, table } from './lib.js';

const REVIEWS = Number(process.env.BENCH_INJECT_REVIEWS ?? 1000);

function review(i: number): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `bench-${i}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'apps',
      operation: 'CREATE',
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { generateName: 'web-', namespace: 'apps', labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
      },
    },
  });
}

interface Injector {
  port: number;
  pid: number;
  stop(): void;
}

/** Start `startup-lock inject` and resolve once it logs `line` (after the listening line). */
function startInjector(args: string[], line: RegExp): Promise<Injector> {
  const child = spawn(
    process.execPath,
    [BIN, 'inject', '--host', '127.0.0.1', '--port', '0', '--health-port', '0', ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    let port = 0;
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      port ||= Number(/"port":(\d+)/.exec(out)?.[1] ?? 0);
      if (port && line.test(out)) {
        // At the default log level, as deployed: one line per review, drained and dropped from here on.
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve({ port, pid: child.pid!, stop: () => child.kill('SIGTERM') });
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`inject exited with ${code}: ${out}`)));
  });
}

export async function runInjectBench() {
  const MiB = 1024 * 1024;
  const ca = makeThrowawayCa();
  const container = path.join(ca.dir, 'container.json');
  writeFileSync(
    container,
    JSON.stringify({
      name: 'startup-lock',
      image: 'ghcr.io/startup-lock/startup-lock:0.1.0',
      args: ['acquire', '--port', '8888', '--fail-open-after', '5m'],
    }),
  );
  writeFileSync(path.join(ca.dir, 'server.pem'), ca.certPem);
  const common = ['--namespace', 'startup-lock', '--container-file', container];

  // cert-manager mode: certificate from files, no Kubernetes client.
  const files = await startInjector(
    [
      ...common,
      '--tls-cert-file',
      path.join(ca.dir, 'server.pem'),
      '--tls-key-file',
      path.join(ca.dir, 'server.key'),
    ],
    /serving certificate loaded/,
  );
  const rssFiles = rssOf(files.pid) / MiB;
  files.stop();

  // Default mode: its own CA in a Secret, the caBundle patched, ready only once trusted.
  const api = await FakeKubeApi.start();
  api.create('mutatingwebhookconfigurations', {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'startup-lock-injector' },
    webhooks: [
      {
        name: 'bench.inject.startup-lock.io',
        clientConfig: { service: { name: 'startup-lock-injector', namespace: 'startup-lock' } },
      },
    ],
  });
  const injector = await startInjector([...common, '--kubeconfig', await api.writeKubeconfig()], /: ready"/);
  const { port } = injector;
  const config = api.get('mutatingwebhookconfigurations', undefined, 'startup-lock-injector') as {
    webhooks: { clientConfig: { caBundle: string } }[];
  };
  const caBundle = Buffer.from(config.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString();
  const rssIdle = rssOf(injector.pid) / MiB;

  const post = (agent: Agent, body: string) =>
    new Promise<number>((resolve, reject) => {
      const start = process.hrtime.bigint();
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/mutate',
          method: 'POST',
          ca: caBundle,
          servername: 'startup-lock-injector.startup-lock.svc',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => {
            if (!text.includes('"patchType":"JSONPatch"')) reject(new Error(`no patch: ${text}`));
            else resolve(Number(process.hrtime.bigint() - start) / 1e6);
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const run = async (concurrency: number) => {
    const agents = Array.from({ length: concurrency }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
    for (const agent of agents) await post(agent, review(-1)); // handshake and warm-up
    const times: number[] = [];
    let next = 0;
    const start = Date.now();
    await Promise.all(
      agents.map(async (agent) => {
        while (next < REVIEWS) times.push(await post(agent, review(next++)));
      }),
    );
    const elapsed = Date.now() - start;
    for (const agent of agents) agent.destroy();
    times.sort((a, b) => a - b);
    return {
      concurrency,
      reviews: times.length,
      p50: quantile(times, 0.5),
      p99: quantile(times, 0.99),
      max: times.at(-1) ?? 0,
      perSecond: (times.length * 1000) / elapsed,
    };
  };

  const sequential = await run(1);
  const parallel = await run(8);
  const rssAfter = rssOf(injector.pid) / MiB;
  injector.stop();
  await api.close();
  ca.remove();
  const result = {
    date: new Date().toISOString(),
    machine: machine(),
    sequential,
    parallel,
    rssIdleMiB: rssIdle,
    rssAfterMiB: rssAfter,
  };
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  const under = (p99: number) => (p99 < 500 ? 'yes' : 'no');
  const rows: [string, string, string, string][] = [
    [
      `inject: admission latency, 1 at a time (${sequential.reviews} reviews)`,
      `p50 ${ms(sequential.p50)}, p99 ${ms(sequential.p99)}`,
      'p99 < 500 ms (¼ of timeoutSeconds 2)',
      under(sequential.p99),
    ],
    [
      `inject: admission latency, 8 at a time (${parallel.reviews} reviews)`,
      `p50 ${ms(parallel.p50)}, p99 ${ms(parallel.p99)}`,
      'p99 < 500 ms (¼ of timeoutSeconds 2)',
      under(parallel.p99),
    ],
    [
      'inject: RSS idle / after the reviews',
      `${rssIdle.toFixed(1)} / ${rssAfter.toFixed(1)} MiB`,
      '< 256 MiB (chart limit)',
      rssAfter < 256 ? 'yes' : 'no',
    ],
    [
      'inject: RSS, cert-manager mode (idle)',
      `${rssFiles.toFixed(1)} MiB`,
      '< 256 MiB (chart limit)',
      rssFiles < 256 ? 'yes' : 'no',
    ],
  ];
  return { result, rows };
}

if (isMain(import.meta.url)) {
  const { result, rows } = await runInjectBench();
  console.log(`startup-lock inject — ${result.date}\n${result.machine}\n`);
  console.log(table(rows));
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/inject.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
}
