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
