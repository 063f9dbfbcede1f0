// What the node lock reads from a pod: is it Ready, has it finished or gone, and which lock holder it is.
import type { V1Pod } from '@kubernetes/client-node';
import { podHolder } from '../holder.js';

/** The `Ready` condition is `True`: the kubelet says every container passes its readiness probe. */
export function isReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Running and Ready, the bar a DaemonSet's pod must clear for `startup-lock health`. */
export function isRunningAndReady(pod: V1Pod): boolean {
  return pod.status?.phase === 'Running' && isReady(pod);
}

/**
 * The pod will not start up any further: it failed, it completed (a Job's pod never turns Ready), or it
 * is being deleted.
 */
export function isFinished(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Failed' || phase === 'Succeeded' || pod.metadata?.deletionTimestamp != null;
}

/** The lease-API holder name of a pod: `namespace/name`. */
export function holderOfPod(pod: V1Pod): string {
  return podHolder(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
}
