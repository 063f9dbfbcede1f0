// The lean client in the shapes the existing Kubernetes code takes from @kubernetes/client-node, so
// switching is a matter of what is passed in: the reflector's watch (client-node's `Watch`) and list
// function, and the Event recorder's `EventsApi`. Only types come from client-node (erased at build).
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import type { EventsApi } from '../server/pods/events.js';
import type { ListResult, WatchApi } from './reflector.js';
import { KubeApiClient, KubeApiStatusError, type Query } from './client.js';

/** The lean client as a watch: the same call, the same callbacks, the same controller. */
export function leanWatch(client: KubeApiClient): WatchApi {
  return {
    watch: (path, query, callback, done) => client.watch(path, query as Query, callback, done),
  };
}

/** The reflector's `list` option for a collection path, with the same selectors as its watch. */
export function leanList<T>(
  client: KubeApiClient,
  path: string,
  selectors: { fieldSelector?: string; labelSelector?: string },
  timeoutMs = 10_000,
): () => Promise<ListResult<T>> {
  return () => client.list<T>(path, { ...selectors }, { timeoutMs });
}

/** The Event recorder's API (createNamespacedEvent, readNamespacedPod) on the lean client. */
export function leanEventsApi(client: KubeApiClient, timeoutMs = 5000): EventsApi {
  const ns = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
  return {
    createNamespacedEvent: ({ namespace, body }) =>
      client.create<CoreV1Event>(`${ns(namespace)}/events`, body, { timeoutMs }),
    readNamespacedPod: ({ namespace, name }) =>
      client.get<V1Pod>(`${ns(namespace)}/pods/${encodeURIComponent(name)}`, { timeoutMs }),
  };
}

/** The API said 410 Gone (the resourceVersion was compacted away): list again, then watch from there. */
export function isGone(errOrStatus: unknown): boolean {
  if (errOrStatus instanceof KubeApiStatusError) return errOrStatus.statusCode === 410;
  return (errOrStatus as { code?: unknown } | null)?.code === 410;
}
