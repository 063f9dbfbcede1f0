// How every command reaches the Kubernetes API: the in-cluster service account, or a kubeconfig file
// (--kubeconfig / $KUBECONFIG) when one is given. Also where a pod learns its own namespace.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import {
  KubeConfig,
  Observable,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * `file` empty: in-cluster config (service account token and CA); otherwise that kubeconfig file.
 * Neither usable is a configuration problem: a ConfigError, exit 2.
 */
export function loadKubeConfig(file: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (file !== '') {
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new ConfigError([`--kubeconfig: cannot load ${file}: ${(err as Error).message}`]);
    }
    if (kc.getCurrentCluster() === null) {
      throw new ConfigError([`--kubeconfig: ${file} has no current context with a cluster`]);
    }
    return kc;
  }
  if (!env.KUBERNETES_SERVICE_HOST) {
    throw new ConfigError([
      '--kubeconfig: not running in a pod ($KUBERNETES_SERVICE_HOST is unset) and no kubeconfig given; pass --kubeconfig FILE or set $KUBECONFIG',
    ]);
  }
  kc.loadFromCluster();
  return kc;
}

/** The pod's own namespace from its service account, or undefined outside a pod. */
export function serviceAccountNamespace(dir = SERVICE_ACCOUNT_DIR): string | undefined {
  try {
    const ns = readFileSync(`${dir}/namespace`, 'utf8').trim();
    return ns === '' ? undefined : ns;
  } catch {
    return undefined;
  }
}

/** The namespace of the kubeconfig's current context, if it names one. */
export function contextNamespace(kc: KubeConfig): string | undefined {
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace || undefined;
}

/**
 * Per-call options that abort a request after `ms`: client-node sets no timeout of its own, and a
 * request the API never answers must not hold up a renewal or a wait deadline.
 * Usage: `api.readNamespacedLease({ name, namespace }, requestTimeout(5000))`.
 */
export function requestTimeout(ms: number): ConfigurationOptions<ObservableMiddleware> {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(AbortSignal.timeout(ms));
          return new Observable(Promise.resolve(context));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}
