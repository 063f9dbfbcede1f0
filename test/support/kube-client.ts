// @kubernetes/client-node pointed at a FakeKubeApi, for tests that talk to it in-process (production
// code gets the same server through a kubeconfig file: FakeKubeApi.writeKubeconfig()).
import { KubeConfig } from '@kubernetes/client-node';
import type { FakeKubeApi } from './fake-kube-api.js';

export function kubeConfigFor(api: FakeKubeApi, namespace = 'default'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig(namespace));
  return kc;
}

/** The HTTP status of an error thrown by client-node (ApiException.code, or statusCode from Watch). */
export function statusOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}
