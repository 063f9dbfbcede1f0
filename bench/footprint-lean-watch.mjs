// Preloaded into the server by `npm run bench:footprint` (node --import): a list+watch of the node's
// pods through the lean path (dist/kube/), kept in a Map as the reflector keeps them, and a lean client
// for Events, in the same process. Not the wiring itself: the measure of what the server would weigh
// with --release-on-ready --events on the lean path instead of @kubernetes/client-node.
const { FOOTPRINT_KUBECONFIG: file, FOOTPRINT_NODE: node } = process.env;
const { loadKubeCredentials } = await import('../dist/kube/credentials.js');
const { KubeApiClient } = await import('../dist/kube/client.js');
const { leanEventsApi } = await import('../dist/kube/adapters.js');
const api = new KubeApiClient(await loadKubeCredentials(file));
const fieldSelector = `spec.nodeName=${node}`;
const store = new Map();
const key = (pod) => `${pod.metadata.namespace}/${pod.metadata.name}`;
const list = await api.list('/api/v1/pods', { fieldSelector });
for (const pod of list.items) store.set(key(pod), pod);
await api.watch(
  '/api/v1/pods',
  { fieldSelector, resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: true },
  (type, pod) => {
    if (type === 'DELETED') store.delete(key(pod));
    else if (type === 'ADDED' || type === 'MODIFIED') store.set(key(pod), pod);
  },
  () => {},
);
globalThis.footprintLeanWatch = { api, store, events: leanEventsApi(api) };
