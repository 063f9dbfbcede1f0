// The cluster around the herd benchmark's kubelet modes (bench/herd.ts): the project's fake API server
// (test/support/fake-kube-api.ts) holding the pods — each with its readiness probe on its own port,
// podIP 127.0.0.1 and container statuses — and a kubelet model. The model reports an app's container
// running the moment its process starts (after the init step), probes its readiness endpoint at once
// and then every `periodSeconds`, as the kubelet's prober does from the container's start, and only
// when a probe passes marks the container ready and the pod `Ready`.
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { FakeKubeApi } from '../test/support/fake-kube-api.js';

export const NODE = 'bench-node';
export const NAMESPACE = 'bench';
/** The kubelet's default probe timeout. */
const PROBE_TIMEOUT_MS = 1000;

export const holderOf = (i: number) => `${NAMESPACE}/app-${i}`;

export class KubeletModel {
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Epoch ms when the kubelet marked each pod Ready. */
  readonly readyAt: (number | null)[] = [];
  private stopped = false;

  private constructor(
    private readonly api: FakeKubeApi,
    readonly kubeconfig: string,
    /** The app of pod i listens here. */
    readonly ports: number[],
    private readonly periodS: number,
  ) {}

  /** A fresh API server with N Pending pods whose readiness probe is `GET /ready` on their own port. */
  static async start(apps: number, periodS: number): Promise<KubeletModel> {
    const api = await FakeKubeApi.start();
    const kubeconfig = await api.writeKubeconfig();
    const ports = await freePorts(apps);
    const model = new KubeletModel(api, kubeconfig, ports, periodS);
    for (let i = 0; i < apps; i++) {
      model.readyAt.push(null);
      api.create('pods', {
        metadata: { namespace: NAMESPACE, name: `app-${i}` },
        spec: {
          nodeName: NODE,
          containers: [
            {
              name: 'app',
              image: 'herd-app',
              ports: [{ name: 'http', containerPort: ports[i] }],
              readinessProbe: {
                httpGet: { path: '/ready', port: 'http' },
                periodSeconds: periodS,
                timeoutSeconds: PROBE_TIMEOUT_MS / 1000,
              },
            },
          ],
        },
        status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] },
      });
    }
    return model;
  }

  /** Resolves once the lock server watches the pods (before that it would miss nothing, but later). */
  watched(): Promise<void> {
    return this.api.waitForWatches('pods', 1, 60_000);
  }

  /** Pod i's app container started: report it running, then probe it every period until it passes. */
  containerStarted(i: number): void {
    const startedAt = new Date().toISOString();
    this.api.patch('pods', NAMESPACE, `app-${i}`, podStatus(startedAt, false));
    const probe = async () => {
      if (this.stopped) return;
      const next = setTimeout(() => void probe(), this.periodS * 1000);
      this.timers.add(next);
      if (!(await passes(this.ports[i]!))) return;
      clearTimeout(next);
      if (this.stopped) return;
      this.readyAt[i] = Date.now();
      this.api.patch('pods', NAMESPACE, `app-${i}`, podStatus(startedAt, true));
    };
    void probe();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await this.api.close();
  }
}

function podStatus(startedAt: string, ready: boolean) {
  return {
    status: {
      phase: 'Running',
      podIP: '127.0.0.1',
      conditions: [
        { type: 'Initialized', status: 'True' },
        { type: 'ContainersReady', status: ready ? 'True' : 'False' },
        { type: 'Ready', status: ready ? 'True' : 'False' },
      ],
      containerStatuses: [
        {
          name: 'app',
          image: 'herd-app',
          imageID: '',
          restartCount: 0,
          started: true,
          ready,
          state: { running: { startedAt } },
        },
      ],
    },
  };
}

/** One readiness probe as the kubelet sends it: 2xx–3xx within the timeout passes. */
function passes(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/ready', timeout: PROBE_TIMEOUT_MS, agent: false },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Distinct ports nothing listens on right now, one per app. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}
