// Which probe the lock server runs for a holder pod (probe-spec.ts), the hand-encoded gRPC health
// messages, and the prober's schedule on a clock moved by hand (holder-prober.ts).
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';
import pino from 'pino';
import { HolderProber } from '../../src/server/pods/prober.js';
import {
  healthCheckRequest,
  servingStatusOf,
  type AttemptResult,
} from '../../src/server/pods/probe-attempt.js';
import {
  appContainersRunning,
  appStartedAt,
  cannotStart,
  planOf,
  resolvePort,
  type ProbeTarget,
} from '../../src/server/pods/probe-spec.js';
import { ManualClock } from '../support/fake-clock.js';

const podWith = (...containers: V1Container[]): V1Pod => ({
  metadata: { namespace: 'ns', name: 'p' },
  spec: { containers },
});

const running = (pod: V1Pod, extra: Record<string, unknown> = {}): V1Pod => ({
  ...pod,
  status: {
    phase: 'Running',
    podIP: '10.0.0.5',
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: 'i',
      imageID: '',
      restartCount: 0,
      ready: false,
      started: true,
      state: { running: { startedAt: new Date('2026-01-01T00:00:00Z') } },
      ...extra,
    })),
  },
});

describe('holder probes: which probe, against which port', () => {
  it('takes the startup probe over the readiness probe', () => {
    const plan = planOf(
      podWith({
        name: 'app',
        startupProbe: { httpGet: { path: '/started', port: 8080 } },
        readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
      }),
    );
    expect(plan.hasProbe).to.equal(true);
    expect(plan.gates[0]).to.deep.include({ via: 'network', probe: 'startupProbe' });
    expect((plan.gates[0] as { target: ProbeTarget }).target).to.deep.equal({
      type: 'httpGet',
      scheme: 'HTTP',
      port: 8080,
      path: '/started',
      headers: [],
    });
  });

  it('falls back to the readiness probe, and to "running" for a container with neither', () => {
    const plan = planOf(
      podWith(
        { name: 'app', readinessProbe: { tcpSocket: { port: 5432 }, timeoutSeconds: 5 } },
        { name: 'sidecar', livenessProbe: { tcpSocket: { port: 1 } } },
      ),
    );
    expect(plan.gates).to.deep.equal([
      {
        container: 'app',
        via: 'network',
        probe: 'readinessProbe',
        target: { type: 'tcpSocket', port: 5432 },
        timeoutMs: 1000,
      },
      { container: 'sidecar', via: 'running' },
    ]);
  });

  it('says a pod without any startup or readiness probe has none (its lease runs its duration)', () => {
    expect(
      planOf(podWith({ name: 'a' }, { name: 'b', livenessProbe: { exec: { command: ['x'] } } })).hasProbe,
    ).to.equal(false);
  });

  it('resolves named ports from the container’s own ports, numbers as they are', () => {
    const c: V1Container = {
      name: 'app',
      ports: [
        { name: 'http', containerPort: 8080 },
        { name: 'grpc', containerPort: 9090 },
      ],
    };
    expect(resolvePort(c, 'http')).to.equal(8080);
    expect(resolvePort(c, 'grpc')).to.equal(9090);
    expect(resolvePort(c, 7000)).to.equal(7000);
    expect(resolvePort(c, '7001')).to.equal(7001);
    expect(resolvePort(c, 'admin')).to.equal(null);
    expect(resolvePort(c, 0)).to.equal(null);
    expect(resolvePort(c, 70000)).to.equal(null);
  });

  it('keeps HTTPS, the path and the headers; bounds the attempt by timeoutSeconds and 1 s', () => {
    const plan = planOf(
      podWith({
        name: 'app',
        ports: [{ name: 'web', containerPort: 8443 }],
        readinessProbe: {
          httpGet: {
            scheme: 'HTTPS',
            path: 'healthz',
            port: 'web',
            httpHeaders: [{ name: 'Host', value: 'x' }],
          },
          timeoutSeconds: 3,
        },
      }),
    );
    expect(plan.gates[0]).to.deep.equal({
      container: 'app',
      via: 'network',
      probe: 'readinessProbe',
      target: { type: 'httpGet', scheme: 'HTTPS', port: 8443, path: '/healthz', headers: [['Host', 'x']] },
      timeoutMs: 1000,
    });
  });

  it('grpc keeps its service', () => {
    const plan = planOf(podWith({ name: 'app', startupProbe: { grpc: { port: 9090, service: 'app.v1' } } }));
    expect((plan.gates[0] as { target: ProbeTarget }).target).to.deep.equal({
      type: 'grpc',
      port: 9090,
      service: 'app.v1',
    });
  });

  it('falls back to the kubelet for exec (started for a startup probe, ready for readiness)', () => {
    const plan = planOf(
      podWith(
        { name: 'a', startupProbe: { exec: { command: ['true'] } } },
        { name: 'b', readinessProbe: { exec: { command: ['true'] } } },
      ),
    );
    expect(plan.gates.map((g) => g.via === 'kubelet' && [g.field, g.why])).to.deep.equal([
      ['started', 'exec'],
      ['ready', 'exec'],
    ]);
  });

  it('never follows a host: httpGet or tcpSocket naming one falls back to the kubelet', () => {
    const plan = planOf(
      podWith(
        { name: 'a', readinessProbe: { httpGet: { host: '169.254.169.254', path: '/', port: 80 } } },
        { name: 'b', startupProbe: { tcpSocket: { host: 'db.example', port: 5432 } } },
      ),
    );
    expect(plan.gates.map((g) => g.via === 'kubelet' && [g.field, g.why])).to.deep.equal([
      ['ready', 'host'],
      ['started', 'host'],
    ]);
    expect(plan.gates[0]!.via === 'kubelet' && plan.gates[0]!.message).to.include('169.254.169.254');
  });

  it('an unknown named port falls back to the kubelet too', () => {
    const plan = planOf(podWith({ name: 'a', readinessProbe: { httpGet: { path: '/', port: 'nope' } } }));
    expect(plan.gates[0]).to.deep.include({ via: 'kubelet', why: 'port', field: 'ready' });
  });
});

describe('holder probes: what the pod status says', () => {
  const pod = podWith({ name: 'app' }, { name: 'side' });

  it('runs only when every app container runs', () => {
    expect(appContainersRunning(pod)).to.equal(false);
    expect(appContainersRunning(running(pod))).to.equal(true);
    const half = running(pod);
    half.status!.containerStatuses![1]!.state = { waiting: { reason: 'ContainerCreating' } };
    expect(appContainersRunning(half)).to.equal(false);
  });

  it('knows when the first app container started (dates from a list or strings from a watch)', () => {
    expect(appStartedAt(running(pod))).to.equal(Date.parse('2026-01-01T00:00:00Z'));
    const watched = running(pod, { state: { running: { startedAt: '2026-01-01T00:00:05Z' } } });
    expect(appStartedAt(watched)).to.equal(Date.parse('2026-01-01T00:00:05Z'));
    expect(appStartedAt(pod)).to.equal(undefined);
  });

  for (const reason of [
    'CrashLoopBackOff',
    'ImagePullBackOff',
    'ErrImagePull',
    'CreateContainerConfigError',
    'CreateContainerError',
  ]) {
    it(`sees ${reason} as cannot start`, () => {
      const p = running(pod, { state: { waiting: { reason, message: 'why' } } });
      expect(cannotStart(p)).to.deep.equal({ container: 'app', reason, message: 'why' });
    });
  }

  it('does not see ContainerCreating or PodInitializing as cannot start', () => {
    for (const reason of ['ContainerCreating', 'PodInitializing']) {
      expect(cannotStart(running(pod, { state: { waiting: { reason } } }))).to.equal(null);
    }
  });
});

describe('holder probes: gRPC health messages', () => {
  it('encodes HealthCheckRequest with and without a service', () => {
    expect(healthCheckRequest('')).to.deep.equal(Buffer.from([0, 0, 0, 0, 0]));
    expect(healthCheckRequest('ab')).to.deep.equal(Buffer.from([0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]));
    const long = healthCheckRequest('x'.repeat(200));
    expect([...long.subarray(0, 8)]).to.deep.equal([0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
  });

  it('decodes HealthCheckResponse.status, UNKNOWN when absent, null when garbled', () => {
    expect(servingStatusOf(Buffer.from([0, 0, 0, 0, 2, 0x08, 1]))).to.equal(1);
    expect(servingStatusOf(Buffer.from([0, 0, 0, 0, 2, 0x08, 2]))).to.equal(2);
    expect(servingStatusOf(Buffer.from([0, 0, 0, 0, 0]))).to.equal(0);
    expect(servingStatusOf(Buffer.from([0, 0, 0, 0, 5, 0x12, 1, 0x41, 0x08, 1]))).to.equal(1);
    expect(servingStatusOf(Buffer.from([0, 0, 0, 0, 3, 0x08]))).to.equal(null);
    expect(servingStatusOf(Buffer.from([1, 0, 0, 0, 0]))).to.equal(null);
  });
});

describe('holder prober: the schedule', () => {
  const log = pino({ level: 'silent' });
  const probed = podWith({ name: 'app', readinessProbe: { httpGet: { path: '/ready', port: 8080 } } });

  function setup(answer: () => AttemptResult) {
    const clock = new ManualClock();
    const attempts: number[] = [];
    const passed: string[] = [];
    const prober = new HolderProber({
      intervalMs: 100,
      clock,
      log,
      passed: (holder, _pod, detail) => passed.push(`${holder} ${detail}`),
      run: async () => {
        attempts.push(clock.now());
        return answer();
      },
    });
    return { clock, attempts, passed, prober };
  }

  it('waits for the containers to run, then probes every interval until the probe passes', async () => {
    let ok = false;
    const { clock, attempts, passed, prober } = setup(() => ({ ok, detail: ok ? '200' : '503' }));
    prober.follow('ns/p', probed, planOf(probed));
    await clock.advance(500);
    expect(attempts).to.have.length(0);
    const t0 = clock.now();
    prober.follow('ns/p', running(probed), planOf(probed));
    await clock.advance(350);
    expect(attempts.map((t) => t - t0)).to.deep.equal([0, 100, 200, 300]);
    ok = true;
    await clock.advance(100);
    expect(passed).to.deep.equal(['ns/p app: readinessProbe httpGet http://10.0.0.5:8080/ready → 200']);
    expect(prober.size).to.equal(0);
    await clock.advance(1000);
    expect(attempts).to.have.length(5);
  });

  it('stops probing a holder it is told to forget', async () => {
    const { clock, attempts, prober } = setup(() => ({ ok: false, detail: 'ECONNREFUSED' }));
    prober.follow('ns/p', running(probed), planOf(probed));
    await clock.advance(250);
    prober.forget('ns/p');
    const n = attempts.length;
    await clock.advance(1000);
    expect(attempts).to.have.length(n);
  });

  it('judges a kubelet fallback as soon as the pod changes', async () => {
    const exec = podWith({ name: 'app', readinessProbe: { exec: { command: ['true'] } } });
    const { clock, passed, prober } = setup(() => ({ ok: false, detail: 'unused' }));
    prober.follow('ns/p', running(exec), planOf(exec));
    await clock.advance(150);
    expect(passed).to.have.length(0);
    prober.follow('ns/p', running(exec, { ready: true }), planOf(exec));
    await clock.advance(0);
    expect(passed).to.deep.equal(['ns/p app: readinessProbe (exec) the kubelet reports ready']);
  });
});
