// For tests of `startup-lock inject`: the container the chart hands the webhook (its ConfigMap, from
// the real `helm template`), what the library chart renders for an app chart with the same settings
// (the example app chart, its dependency built in a temp copy), AdmissionReview fixtures, and an HTTPS
// client that trusts only the webhook's caBundle.
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { parse } from 'yaml';
import { chartDir, get, prepareAppChart, render, type K8sObject } from '../chart/helm.js';

export const INJECTOR_VALUES = path.join(chartDir, 'ci/injector-values.yaml');
export const WEBHOOK_NAME = 'lock-startup-lock-injector';
export const SECRET_NAME = 'lock-startup-lock-injector-tls';
export const OWN_NAMESPACE = 'startup-lock-system';
export const SERVICE_HOST = `${WEBHOOK_NAME}.${OWN_NAMESPACE}.svc`;

export type Json = Record<string, unknown>;

/** The injector's objects from `helm template` with the injector CI values. */
export function renderInjector(): Promise<K8sObject[]> {
  return render({ valuesFiles: [INJECTOR_VALUES] });
}

/** Write the ConfigMap's container.yaml to a temp file, as the Deployment mounts it. */
export function containerFileFrom(objects: readonly K8sObject[], dir: string): string {
  const cm = get(objects, 'ConfigMap', WEBHOOK_NAME) as K8sObject & { data: Record<string, string> };
  const file = path.join(dir, 'container.yaml');
  writeFileSync(file, cm.data['container.yaml'] ?? '');
  return file;
}

/** An app chart depending on the library chart, ready to render (call remove() when done). */
export async function libraryApp(): Promise<{
  initContainer(startupLock: Json): Promise<Json>;
  remove(): void;
}> {
  const { appChart, cleanup } = await prepareAppChart();
  return {
    async initContainer(startupLock) {
      const objects = await render({
        chart: appChart,
        values: { startupLock: { enabled: true, ...startupLock } },
      });
      const deployment = get(objects, 'Deployment') as K8sObject & {
        spec: { template: { spec: { initContainers: Json[] } } };
      };
      return deployment.spec.template.spec.initContainers[0] as Json;
    },
    remove: cleanup,
  };
}

export function parseYamlFile(file: string): unknown {
  return parse(readFileSync(file, 'utf8'));
}

let seq = 0;

/** An AdmissionReview v1 for a pod CREATE. */
export function podReview(pod: Json, namespace = 'apps'): Json {
  seq += 1;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${seq}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

export function plainPod(extra: { labels?: Json; annotations?: Json; initContainers?: Json[] } = {}): Json {
  const metadata: Json = {
    generateName: 'web-7d9f-',
    namespace: 'apps',
    labels: { app: 'web', ...extra.labels },
  };
  if (extra.annotations) metadata.annotations = extra.annotations;
  metadata.ownerReferences = [
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: 'rs', controller: true },
  ];
  const spec: Json = { containers: [{ name: 'web', image: 'nginx:1.27' }] };
  if (extra.initContainers) spec.initContainers = extra.initContainers;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

export interface Answer {
  status: number;
  body: Json;
}

/** POST a body to the webhook over TLS, trusting only `ca` and checking the Service's name. */
export function postReview(
  port: number,
  ca: string,
  body: string | Json,
  host = SERVICE_HOST,
): Promise<Answer> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate',
        method: 'POST',
        ca,
        servername: host,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Json });
          } catch (err) {
            reject(new Error(`not JSON (${res.statusCode}): ${text} — ${(err as Error).message}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
