// --release-on-ready with the server's own probing, on the real server process, the fake API and real
// listeners on 127.0.0.1 standing in for the pods (podIP 127.0.0.1): each kind of probe releases its
// holder within two probe intervals of the app turning healthy, before the pod's Ready condition (never
// set here); what the server must not or cannot probe falls back to the kubelet's word; a holder that
// cannot start gives its slot to the next waiter at once.
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { HealthImplementation } from 'grpc-health-check';
import { fakeApiPerTest } from '../support/fake-api-suite.js';
import type { FakeKubeApi, JsonObject } from '../support/fake-kube-api.js';
import { appPod, containersStatus, type ContainerState } from '../support/kube-pods.js';
import { freePort } from '../support/net.js';
import { startReleasingServer, type ServerProc } from '../support/processes.js';
import { makeThrowawayCa, type ThrowawayCa } from '../support/throwaway-ca.js';

const DIST = fileURLToPath(new URL('../../dist/server/pods/prober.js', import.meta.url));
const NODE = 'node-1';
const NS = 'team';
const INTERVAL_MS = 200;

/** An HTTP(S) app on 127.0.0.1: answers `status(path)`; records what it was sent. */
interface App {
  port: number;
  healthy: boolean;
  requests: { path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function httpApp(tls?: ThrowawayCa, paths: Record<string, () => boolean> = {}): Promise<App> {
  const app: App = { port: 0, healthy: false, requests: [], close: async () => undefined };
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    app.requests.push({ path: req.url ?? '', headers: req.headers });
    const ok = paths[req.url ?? ''] ?? (() => app.healthy);
    res.writeHead(ok() ? 200 : 503).end(ok() ? 'ok' : 'starting');
  };
  const server: Server = tls
    ? createHttpsServer({ key: tls.keyPem, cert: tls.certPem }, handler)
    : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  app.port = (server.address() as AddressInfo).port;
  app.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return app;
}

describe('release on the holder’s own probes (real server, fake API, apps on 127.0.0.1)', function () {
  this.timeout(40_000);
  let api: FakeKubeApi;
  let kubeconfig: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  fakeApiPerTest(DIST, (fake, path) => {
    api = fake;
    kubeconfig = path;
  });

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function server(extra: string[] = []): Promise<ServerProc> {
    return startReleasingServer(api, kubeconfig, NODE, [
      '--ready-probe-interval',
      `${INTERVAL_MS}ms`,
      ...extra,
    ]);
  }

  async function acquire(s: ServerProc, name: string, wait = 0): Promise<number> {
    const res = await fetch(`${s.url}/v1/leases?holder=${NS}/${name}&duration=60&wait=${wait}`, {
      method: 'POST',
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** The holder's `lease released` line; `at` is the server's own timestamp of it. */
  async function released(s: ServerProc, name: string, timeoutMs = 10_000) {
    const line = await s.waitForLog(
      (l) => l.msg === 'lease released' && l.holder === `${NS}/${name}`,
      timeoutMs,
    );
    return {
      reason: String(line.reason),
      detail: String(line.detail ?? ''),
      at: Date.parse(String(line.time)),
    };
  }

  /** Nothing released `name` during `ms` (a few probe intervals). */
  async function stillHeld(s: ServerProc, name: string, ms = 4 * INTERVAL_MS): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    const status = (await (await fetch(`${s.url}/v1/status`)).json()) as { holders: { holder: string }[] };
    expect(status.holders.map((h) => h.holder)).to.include(`${NS}/${name}`);
  }

  /** Create the holder pod, take its lease, start its containers (not Ready), wait for probing to begin. */
  async function holding(s: ServerProc, name: string, containers: JsonObject[], states?: ContainerState[]) {
    api.create('pods', appPod(NS, name, NODE, containers));
    expect(await acquire(s, name)).to.equal(200);
    api.patch(
      'pods',
      NS,
      name,
      containersStatus(states ?? containers.map((c) => ({ name: String(c.name) }))),
    );
  }

  /** Turn the app healthy now; expect the release by its probe within two intervals, Ready never set. */
  async function expectProbeRelease(s: ServerProc, name: string, turnHealthy: () => void | Promise<void>) {
    const healthyAt = Date.now();
    await turnHealthy();
    const r = await released(s, name);
    const latency = r.at - healthyAt;
    console.log(`      ${name}: healthy → released (${r.detail}) in ${latency} ms`);
    expect(r.reason).to.equal('probe');
    expect(latency).to.be.below(2 * INTERVAL_MS);
    const pod = api.get('pods', NS, name) as { status: { conditions: { type: string; status: string }[] } };
    expect(pod.status.conditions.find((c) => c.type === 'Ready')?.status).to.equal('False');
    return r;
  }

  it('HTTP app: httpGet with its path and headers, released once it answers 2xx', async () => {
    const app = await httpApp();
    cleanups.push(() => app.close());
    const s = await server();
    await holding(s, 'http', [
      {
        name: 'app',
        image: 'app:1',
        readinessProbe: {
          httpGet: {
            path: '/ready',
            port: app.port,
            httpHeaders: [{ name: 'X-Probe', value: 'startup-lock' }],
          },
          periodSeconds: 10,
        },
      },
    ]);
    await stillHeld(s, 'http');
    expect(app.requests.length).to.be.greaterThan(0);
    const r = await expectProbeRelease(s, 'http', () => void (app.healthy = true));
    expect(r.detail).to.match(/app: readinessProbe httpGet http:\/\/127\.0\.0\.1:\d+\/ready → 200/);
    expect(app.requests.at(-1)?.path).to.equal('/ready');
    expect(app.requests.at(-1)?.headers['x-probe']).to.equal('startup-lock');
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).to.match(/startup_lock_lease_releases_total\{reason="probe"\} 1/);
    expect(metrics).to.match(/startup_lock_start_to_release_seconds_count\{reason="probe"\} 1/);
  });

  it('HTTPS app with a throw-away certificate: probed without verifying it', async () => {
    const ca = makeThrowawayCa();
    cleanups.push(() => ca.remove());
    const app = await httpApp(ca);
    cleanups.push(() => app.close());
    const s = await server();
    await holding(s, 'https', [
      {
        name: 'app',
        image: 'app:1',
        readinessProbe: { httpGet: { path: '/healthz', port: app.port, scheme: 'HTTPS' } },
      },
    ]);
    await stillHeld(s, 'https');
    const r = await expectProbeRelease(s, 'https', () => void (app.healthy = true));
    expect(r.detail).to.match(/httpGet https:\/\/127\.0\.0\.1:\d+\/healthz → 200/);
  });

  it('a named port is resolved from the container’s ports', async () => {
    const app = await httpApp();
    cleanups.push(() => app.close());
    const s = await server();
    await holding(s, 'named', [
      {
        name: 'app',
        image: 'app:1',
        ports: [
          { name: 'metrics', containerPort: 1 },
          { name: 'http', containerPort: app.port },
        ],
        readinessProbe: { httpGet: { path: '/ready', port: 'http' } },
      },
    ]);
    await stillHeld(s, 'named');
    const r = await expectProbeRelease(s, 'named', () => void (app.healthy = true));
    expect(r.detail).to.include(`127.0.0.1:${app.port}/ready`);
  });

  it('TCP app: a closed port keeps the lease; the lease ends once the port accepts', async () => {
    const port = await freePort();
    const s = await server();
    await holding(s, 'tcp', [{ name: 'app', image: 'app:1', readinessProbe: { tcpSocket: { port } } }]);
    await stillHeld(s, 'tcp', 6 * INTERVAL_MS);
    let listener: TcpServer | undefined;
    cleanups.push(
      () => new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve())),
    );
    const r = await expectProbeRelease(s, 'tcp', async () => {
      listener = createTcpServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => listener!.listen(port, '127.0.0.1', resolve));
    });
    expect(r.detail).to.match(/tcpSocket 127\.0\.0\.1:\d+ → connected/);
  });

  it('gRPC app: the standard health service, for the service the probe names', async () => {
    const health = new HealthImplementation({ '': 'SERVING', 'app.v1': 'NOT_SERVING' });
    const grpcServer = new grpc.Server();
    health.addToServer(grpcServer);
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    cleanups.push(() => void grpcServer.forceShutdown());
    const s = await server();
    await holding(s, 'grpc', [
      { name: 'app', image: 'app:1', readinessProbe: { grpc: { port, service: 'app.v1' } } },
    ]);
    // The server as a whole is SERVING, but not the service the probe asks about.
    await stillHeld(s, 'grpc');
    const r = await expectProbeRelease(s, 'grpc', () => health.setStatus('app.v1', 'SERVING'));
    expect(r.detail).to.match(/grpc 127\.0\.0\.1:\d+ service "app.v1" → SERVING/);
  });

  it('prefers the startup probe over the readiness probe', async () => {
    let started = false;
    const app = await httpApp(undefined, { '/started': () => started, '/ready': () => false });
    cleanups.push(() => app.close());
    const s = await server();
    await holding(s, 'startup', [
      {
        name: 'app',
        image: 'app:1',
        startupProbe: { httpGet: { path: '/started', port: app.port } },
        readinessProbe: { httpGet: { path: '/ready', port: app.port } },
      },
    ]);
    await stillHeld(s, 'startup');
    const r = await expectProbeRelease(s, 'startup', () => void (started = true));
    expect(r.detail).to.match(/startupProbe httpGet .*\/started → 200/);
    expect(app.requests.map((q) => q.path)).to.not.include('/ready');
  });

  it('every app container must pass; one without a probe counts once it runs', async () => {
    const app = await httpApp();
    cleanups.push(() => app.close());
    const s = await server();
    await holding(s, 'multi', [
      { name: 'app', image: 'app:1', readinessProbe: { httpGet: { path: '/ready', port: app.port } } },
      { name: 'sidecar', image: 'proxy:1' },
    ]);
    await stillHeld(s, 'multi');
    const r = await expectProbeRelease(s, 'multi', () => void (app.healthy = true));
    expect(r.detail).to.include('sidecar: running (no probe)');
  });

  it('an exec probe falls back to the kubelet’s status (started for a startup probe)', async () => {
    const s = await server();
    await holding(s, 'exec', [
      { name: 'app', image: 'app:1', startupProbe: { exec: { command: ['cat', '/tmp/started'] } } },
    ]);
    await stillHeld(s, 'exec');
    const r = await expectProbeRelease(
      s,
      'exec',
      () => void api.patch('pods', NS, 'exec', containersStatus([{ name: 'app', started: true }])),
    );
    expect(r.detail).to.include('app: startupProbe (exec) the kubelet reports started');
  });

  it('never follows a probe that names a host: it warns once and waits for the kubelet', async () => {
    const app = await httpApp();
    app.healthy = true;
    cleanups.push(() => app.close());
    const s = await server();
    await holding(s, 'hosted', [
      {
        name: 'app',
        image: 'app:1',
        readinessProbe: { httpGet: { host: '127.0.0.1', path: '/ready', port: app.port } },
      },
    ]);
    await stillHeld(s, 'hosted', 6 * INTERVAL_MS);
    expect(app.requests, 'the named host is never contacted').to.have.length(0);
    const r = await expectProbeRelease(
      s,
      'hosted',
      () => void api.patch('pods', NS, 'hosted', containersStatus([{ name: 'app', ready: true }])),
    );
    expect(r.detail).to.include('readinessProbe (host) the kubelet reports ready');
    const warnings = s
      .logs()
      .filter((l) => l.level === 'warn' && /names host "127\.0\.0\.1"/.test(String(l.msg)));
    expect(warnings).to.have.length(1);
    expect(app.requests).to.have.length(0);
  });

  it('with --ready-probe-interval 0 only the Ready condition releases', async () => {
    const app = await httpApp();
    app.healthy = true;
    cleanups.push(() => app.close());
    const s = await server(['--ready-probe-interval', '0']);
    await holding(s, 'ready-only', [
      { name: 'app', image: 'app:1', readinessProbe: { httpGet: { path: '/ready', port: app.port } } },
    ]);
    await stillHeld(s, 'ready-only');
    expect(app.requests).to.have.length(0);
    api.patch('pods', NS, 'ready-only', containersStatus([{ name: 'app', ready: true }], { ready: true }));
    expect((await released(s, 'ready-only')).reason).to.equal('ready');
  });

  for (const waiting of ['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull']) {
    it(`a holder in ${waiting} is released within a second and the next waiter is granted`, async () => {
      const s = await server();
      const probed = [{ name: 'app', image: 'app:1', readinessProbe: { tcpSocket: { port: 1 } } }];
      await holding(s, 'broken', probed);
      api.create('pods', appPod(NS, 'next', NODE, probed));
      const next = acquire(s, 'next', 20);
      await s.waitForLog((l) => l.msg === 'holder queued' && l.holder === `${NS}/next`);
      const failedAt = Date.now();
      api.patch('pods', NS, 'broken', containersStatus([{ name: 'app', waiting }]));
      const r = await released(s, 'broken');
      expect(r.reason).to.equal('failed');
      expect(r.detail).to.include(`container app is ${waiting}`);
      expect(r.at - failedAt).to.be.below(1000);
      expect(await next).to.equal(200);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).to.match(/startup_lock_lease_releases_total\{reason="failed"\} 1/);
    });
  }
});
