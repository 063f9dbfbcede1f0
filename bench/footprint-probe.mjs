// A child process for `npm run bench:footprint`, run on the Node under test without tsx (which would
// add its own memory). Prints one JSON line: RSS and heap before and after the step named in argv.
//   node --expose-gc bench/footprint-probe.mjs import <module>       the cost of importing a module
//   node --expose-gc bench/footprint-probe.mjs watch lean|client-node <kubeconfig> <node> <pods>
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const [mode, what, kubeconfig, nodeName, podsArg] = process.argv.slice(2);
const gc = () => globalThis.gc?.();

function sample() {
  gc();
  gc();
  const m = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
  return { rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
}

const settle = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  await settle(50);
  const before = sample();
  if (mode === 'import') {
    const started = performance.now();
    await import(what);
    const ms = performance.now() - started;
    await settle(200);
    return { before, after: sample(), ms };
  }
  const pods = Number(podsArg);
  const started = performance.now();
  const seen = await (what === 'lean' ? watchLean : watchClientNode)(kubeconfig, nodeName, pods);
  const ms = performance.now() - started;
  await settle(1000);
  return { before, after: sample(), ms, seen };
}

/** List then watch the node's pods, until the list and `pods` watch events have arrived. */
async function watchLean(file, node, pods) {
  const { loadKubeCredentials } = await import('../dist/kube/credentials.js');
  const { KubeApiClient } = await import('../dist/kube/client.js');
  const api = new KubeApiClient(await loadKubeCredentials(file));
  const fieldSelector = `spec.nodeName=${node}`;
  const list = await api.list('/api/v1/pods', { fieldSelector });
  let modified = 0;
  await new Promise((resolve, reject) => {
    api
      .watch(
        '/api/v1/pods',
        { fieldSelector, resourceVersion: list.metadata.resourceVersion },
        (type) => {
          if (type === 'MODIFIED' && ++modified >= pods * 2) resolve();
        },
        (err) => err && reject(err),
      )
      .catch(reject);
  });
  globalThis.keep = [api, list];
  return list.items.length + modified;
}

async function watchClientNode(file, node, pods) {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(file);
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const fieldSelector = `spec.nodeName=${node}`;
  const list = await api.listPodForAllNamespaces({ fieldSelector });
  let modified = 0;
  await new Promise((resolve, reject) => {
    new k8s.Watch(kc)
      .watch(
        '/api/v1/pods',
        { fieldSelector, resourceVersion: list.metadata.resourceVersion },
        (type) => {
          if (type === 'MODIFIED' && ++modified >= pods * 2) resolve();
        },
        (err) => err && reject(err),
      )
      .catch(reject);
  });
  globalThis.keep = [api, list];
  return list.items.length + modified;
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
