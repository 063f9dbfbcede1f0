// Who holds the lock, and in which namespace. The identity must be unique per running pod: kubelock's
// default (the hostname) is shared by every pod on the host network, so two of them could both "hold" it.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

export interface Identity {
  identity: string;
  /** Set when we had to fall back to something weaker than the pod's own name and UID. */
  warning?: string;
}

export function resolveIdentity(id: string, env: NodeJS.ProcessEnv = process.env): Identity {
  if (id !== '') return { identity: id };
  const name = env.POD_NAME ?? '';
  const uid = env.POD_UID ?? '';
  if (name !== '' && uid !== '') return { identity: `${name}_${uid}` };
  const suffix = randomBytes(4).toString('hex');
  if (name !== '') {
    return {
      identity: `${name}_${suffix}`,
      warning: 'POD_UID is not set (downward API metadata.uid); using the pod name with a random suffix',
    };
  }
  return {
    identity: `${hostname()}_${suffix}`,
    warning:
      'POD_NAME and POD_UID are not set (downward API); using the hostname with a random suffix — set them, or --id',
  };
}

export interface NamespaceSources {
  /** --namespace / $STARTUP_LOCK_NAMESPACE / $POD_NAMESPACE. */
  option: string;
  /** Namespace of the current kubeconfig context, when --kubeconfig was given. */
  kubeconfig?: string;
  /** The pod's service-account namespace file. */
  serviceAccount?: string;
}

/** The option, else the kubeconfig context's, else the pod's own, else `default`. */
export function resolveNamespace(sources: NamespaceSources): string {
  return sources.option || sources.kubeconfig || sources.serviceAccount || 'default';
}
