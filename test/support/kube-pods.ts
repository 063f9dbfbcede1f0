// Pod, Node and DaemonSet objects for tests against the fake API, with the fields the node lock reads.
import type { JsonObject } from './fake-kube-api.js';

export function pod(namespace: string, name: string, nodeName: string, extra: JsonObject = {}): JsonObject {
  return {
    metadata: { namespace, name, ...((extra.metadata as JsonObject | undefined) ?? {}) },
    spec: { nodeName, containers: [{ name: 'app', image: 'app:1' }] },
    status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] },
  };
}

/** A status patch: Running and Ready (or not). */
export function readyStatus(ready = true): JsonObject {
  return {
    status: {
      phase: 'Running',
      conditions: [
        { type: 'Initialized', status: 'True' },
        { type: 'Ready', status: ready ? 'True' : 'False' },
      ],
    },
  };
}

/** An app container whose readiness probe is exec: the server cannot run it, so the kubelet decides. */
export const EXEC_READINESS: JsonObject = {
  name: 'app',
  image: 'app:1',
  readinessProbe: { exec: { command: ['true'] }, periodSeconds: 10 },
};

/** A holder pod on `nodeName` with these app containers (their probes, ports). */
export function appPod(
  namespace: string,
  name: string,
  nodeName: string,
  containers: JsonObject[],
): JsonObject {
  return {
    metadata: { namespace, name },
    spec: { nodeName, containers },
    status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] },
  };
}

export interface ContainerState {
  name: string;
  /** What the kubelet reports: its startup probe passed / its readiness probe passed. */
  started?: boolean;
  ready?: boolean;
  /** Waiting with this reason (CrashLoopBackOff, ErrImagePull…) instead of running. */
  waiting?: string;
}

/**
 * A status patch: the pod Running on `podIP` with its app containers running (or waiting), the `Ready`
 * condition as given (False by default: the kubelet has not probed yet).
 */
export function containersStatus(
  containers: ContainerState[],
  options: { podIP?: string; ready?: boolean; startedAt?: string } = {},
): JsonObject {
  const startedAt = options.startedAt ?? new Date().toISOString();
  return {
    status: {
      phase: 'Running',
      podIP: options.podIP ?? '127.0.0.1',
      conditions: [
        { type: 'Initialized', status: 'True' },
        { type: 'Ready', status: options.ready ? 'True' : 'False' },
      ],
      containerStatuses: containers.map((c): JsonObject => ({
        name: c.name,
        image: 'app:1',
        imageID: '',
        restartCount: c.waiting === 'CrashLoopBackOff' ? 3 : 0,
        started: c.waiting ? false : (c.started ?? false),
        ready: c.ready ?? false,
        state: c.waiting
          ? ({ waiting: { reason: c.waiting, message: `fake: ${c.waiting}` } } as JsonObject)
          : ({ running: { startedAt } } as JsonObject),
      })),
    },
  };
}
