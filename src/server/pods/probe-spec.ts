// Which probe says a holder pod's start-up is over, per app container, as the lock server can run it:
// the container's startupProbe if it has one, else its readinessProbe; httpGet, tcpSocket and grpc are
// run from the node against the pod's IP, while exec probes and probes naming a `host` fall back to what
// the kubelet reports. Pure: reads the pod, does no I/O.
import type { V1Container, V1ContainerStatus, V1Pod, V1Probe } from '@kubernetes/client-node';

export type ProbeKind = 'startupProbe' | 'readinessProbe';

/** What one attempt sends to the pod's IP. */
export type ProbeTarget =
  | { type: 'httpGet'; scheme: 'HTTP' | 'HTTPS'; port: number; path: string; headers: [string, string][] }
  | { type: 'tcpSocket'; port: number }
  | { type: 'grpc'; port: number; service: string };

/** How the lock server learns that one app container is through its start-up. */
export type ContainerGate =
  | { container: string; via: 'network'; probe: ProbeKind; target: ProbeTarget; timeoutMs: number }
  | {
      container: string;
      via: 'kubelet';
      probe: ProbeKind;
      /** `started` for a startup probe, `ready` for a readiness probe (containerStatuses[]). */
      field: 'started' | 'ready';
      /** Why the server does not run it itself; a warning is logged for all but exec. */
      why: 'exec' | 'host' | 'port' | 'unsupported';
      message: string;
    }
  | { container: string; via: 'running' };

export interface StartupPlan {
  gates: ContainerGate[];
  /**
   * Some app container has a startup or readiness probe. Without one, nothing says when the start-up is
   * over (Ready turns true as soon as the containers run), so the lease runs for its duration.
   */
  hasProbe: boolean;
}

/** Longest single probe attempt, whatever the probe's own timeoutSeconds says. */
export const MAX_ATTEMPT_MS = 1000;

/** The probe that ends each app container's start-up, resolved against the container's ports. */
export function planOf(pod: V1Pod): StartupPlan {
  const gates = (pod.spec?.containers ?? []).map(gateOf);
  return { gates, hasProbe: gates.some((g) => g.via !== 'running') };
}

function gateOf(c: V1Container): ContainerGate {
  const probe: ProbeKind | null = c.startupProbe
    ? 'startupProbe'
    : c.readinessProbe
      ? 'readinessProbe'
      : null;
  if (probe === null) return { container: c.name, via: 'running' };
  const spec = c[probe] as V1Probe;
  const field = probe === 'startupProbe' ? 'started' : 'ready';
  const kubelet = (why: 'exec' | 'host' | 'port' | 'unsupported', message: string): ContainerGate => ({
    container: c.name,
    via: 'kubelet',
    probe,
    field,
    why,
    message,
  });
  const timeoutMs = Math.min(MAX_ATTEMPT_MS, Math.max(1, spec.timeoutSeconds ?? 1) * 1000);
  const network = (target: ProbeTarget): ContainerGate => ({
    container: c.name,
    via: 'network',
    probe,
    target,
    timeoutMs,
  });
  if (spec.exec) return kubelet('exec', `${probe} is exec: it runs inside the container`);
  if (spec.httpGet) {
    const h = spec.httpGet;
    if (h.host) return kubelet('host', hostRefused(probe, h.host));
    const port = resolvePort(c, h.port);
    if (port === null) return kubelet('port', portUnknown(probe, h.port));
    const scheme = String(h.scheme ?? 'HTTP').toUpperCase() === 'HTTPS' ? 'HTTPS' : 'HTTP';
    const path = h.path ? (h.path.startsWith('/') ? h.path : `/${h.path}`) : '/';
    const headers = (h.httpHeaders ?? []).map((x): [string, string] => [x.name, x.value]);
    return network({ type: 'httpGet', scheme, port, path, headers });
  }
  if (spec.tcpSocket) {
    if (spec.tcpSocket.host) return kubelet('host', hostRefused(probe, spec.tcpSocket.host));
    const port = resolvePort(c, spec.tcpSocket.port);
    if (port === null) return kubelet('port', portUnknown(probe, spec.tcpSocket.port));
    return network({ type: 'tcpSocket', port });
  }
  if (spec.grpc) {
    const port = resolvePort(c, spec.grpc.port);
    if (port === null) return kubelet('port', portUnknown(probe, spec.grpc.port));
    return network({ type: 'grpc', port, service: spec.grpc.service ?? '' });
  }
  return kubelet('unsupported', `${probe} has no handler the lock server knows`);
}

/** A port number, or a name looked up in the container's own ports (as the kubelet does). */
export function resolvePort(c: V1Container, port: number | string | undefined): number | null {
  if (typeof port === 'number') return validPort(port);
  if (typeof port !== 'string' || port === '') return null;
  if (/^\d+$/.test(port)) return validPort(Number(port));
  const named = (c.ports ?? []).find((p) => p.name === port);
  return named ? validPort(named.containerPort) : null;
}

function validPort(n: number): number | null {
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : null;
}

function hostRefused(probe: ProbeKind, host: string): string {
  return `${probe} names host "${host}": the lock server probes only the pod's own IP, so it waits for the kubelet's verdict`;
}

function portUnknown(probe: ProbeKind, port: unknown): string {
  return `${probe} port ${JSON.stringify(port)} is not a number or a port the container names; waiting for the kubelet's verdict`;
}

// ---------------------------------------------------------------------------------------------
// What the pod's status says about its app containers.

/** App-container waiting reasons that mean it cannot start (the lease would only be wasted). */
export const CANNOT_START = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
]);

function statusOf(pod: V1Pod, container: string): V1ContainerStatus | undefined {
  return (pod.status?.containerStatuses ?? []).find((s) => s.name === container);
}

/** The first app container that cannot start, and why; null when none. */
export function cannotStart(pod: V1Pod): { container: string; reason: string; message?: string } | null {
  for (const c of pod.spec?.containers ?? []) {
    const waiting = statusOf(pod, c.name)?.state?.waiting;
    if (waiting?.reason && CANNOT_START.has(waiting.reason)) {
      return waiting.message
        ? { container: c.name, reason: waiting.reason, message: waiting.message }
        : { container: c.name, reason: waiting.reason };
    }
  }
  return null;
}

/** Every app container is running (probing before that only measures the container runtime). */
export function appContainersRunning(pod: V1Pod): boolean {
  const containers = pod.spec?.containers ?? [];
  return containers.length > 0 && containers.every((c) => statusOf(pod, c.name)?.state?.running != null);
}

/** When the first app container started (epoch ms), if any runs. */
export function appStartedAt(pod: V1Pod): number | undefined {
  const starts = (pod.spec?.containers ?? [])
    .map((c) => statusOf(pod, c.name)?.state?.running?.startedAt)
    .filter((t) => t != null)
    .map((t) => new Date(t as Date | string).getTime())
    .filter((t) => Number.isFinite(t));
  return starts.length > 0 ? Math.min(...starts) : undefined;
}

/** The kubelet's word on one container: `started` (startup probe passed) or `ready`. */
export function kubeletSays(pod: V1Pod, container: string, field: 'started' | 'ready'): boolean {
  const s = statusOf(pod, container);
  return field === 'started' ? s?.started === true : s?.ready === true;
}
