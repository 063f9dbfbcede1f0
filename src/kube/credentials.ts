// Credentials for the lean Kubernetes API path (src/kube/): the in-cluster service account or a
// kubeconfig file, read the way src/kube/kube-config.ts reads them for @kubernetes/client-node, without
// loading that library. Exec plugins and auth providers are not supported here: such a kubeconfig is
// refused with a ConfigError that says to use in-cluster credentials or a token / client certificate.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How often a token file is read again at most (client-go re-reads its service account token every minute). */
const TOKEN_FILE_MAX_AGE_MS = 60_000;

export interface KubeCredentials {
  /** `https://host:port` (or `http://` for a test server), no trailing slash. */
  readonly server: string;
  /** PEM trust anchors; undefined means the system's. */
  readonly ca?: string | Buffer;
  /** PEM client certificate and key, when the user authenticates with one. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly insecureSkipTlsVerify: boolean;
  /** SNI / certificate name to expect, when it differs from the server's host. */
  readonly tlsServerName?: string;
  /** The namespace the kubeconfig's context names, if any. */
  readonly namespace?: string;
  /** The Authorization header for the next request, if any (a token file is read again as it rotates). */
  authorization(): string | undefined;
  /** The server answered 401: the next request reads the token file again instead of using the cached one. */
  rejected(): void;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Service account directory (tests point it at a temp dir). */
  serviceAccountDir?: string;
  /** Bound on how long a token read from a file is reused (default 60 s). */
  tokenFileMaxAgeMs?: number;
  now?: () => number;
}

/**
 * `file` empty: in-cluster (service account token, CA, $KUBERNETES_SERVICE_HOST/PORT); otherwise that
 * kubeconfig file. Anything unusable is a ConfigError (exit 2), worded like loadKubeConfig's.
 */
export async function loadKubeCredentials(file: string, options: LoadOptions = {}): Promise<KubeCredentials> {
  return file === '' ? inCluster(options) : fromKubeconfig(file, options);
}

function inCluster(options: LoadOptions): KubeCredentials {
  const env = options.env ?? process.env;
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) {
    throw new ConfigError([
      '--kubeconfig: not running in a pod ($KUBERNETES_SERVICE_HOST is unset) and no kubeconfig given; pass --kubeconfig FILE or set $KUBECONFIG',
    ]);
  }
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  const ca = readOrFail(`${dir}/ca.crt`, 'the service account CA');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca,
    insecureSkipTlsVerify: false,
    ...tokenFrom({ file: `${dir}/token` }, options),
  };
}

interface KubeconfigCluster {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
}

interface KubeconfigUser {
  token?: string;
  tokenFile?: string;
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  username?: string;
  password?: string;
  exec?: unknown;
  'auth-provider'?: unknown;
}

interface Kubeconfig {
  clusters?: { name?: string; cluster?: KubeconfigCluster }[];
  users?: { name?: string; user?: KubeconfigUser }[];
  contexts?: { name?: string; context?: { cluster?: string; user?: string; namespace?: string } }[];
  'current-context'?: string;
}

async function fromKubeconfig(file: string, options: LoadOptions): Promise<KubeCredentials> {
  const fail = (why: string): never => {
    throw new ConfigError([`--kubeconfig: cannot load ${file}: ${why}`]);
  };
  let config: Kubeconfig;
  try {
    // Loaded only here: in-cluster credentials need no YAML parser.
    const { parse } = await import('yaml');
    config = (parse(readFileSync(file, 'utf8')) ?? {}) as Kubeconfig;
  } catch (err) {
    return fail((err as Error).message);
  }
  const contextName = config['current-context'];
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  const cluster = config.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  if (context === undefined || cluster?.server === undefined) {
    throw new ConfigError([`--kubeconfig: ${file} has no current context with a cluster`]);
  }
  const user = config.users?.find((u) => u.name === context.user)?.user ?? {};
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    fail(
      `user "${context.user ?? ''}" authenticates with ${user.exec !== undefined ? 'an exec plugin' : 'an auth provider'}, which the server does not run; use in-cluster credentials (omit --kubeconfig in a pod), or a kubeconfig with a token, tokenFile or client certificate`,
    );
  }
  if (cluster['proxy-url'] !== undefined) fail('proxy-url is not supported');
  const base = dirname(resolve(file));
  const path = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const pem = (data: string | undefined, p: string | undefined, what: string) =>
    data !== undefined
      ? Buffer.from(data, 'base64')
      : p !== undefined
        ? readOrFail(path(p), what)
        : undefined;
  const cert = pem(user['client-certificate-data'], user['client-certificate'], 'the client certificate');
  const key = pem(user['client-key-data'], user['client-key'], 'the client key');
  if ((cert === undefined) !== (key === undefined))
    fail('a client certificate needs both a certificate and a key');
  const ca = pem(cluster['certificate-authority-data'], cluster['certificate-authority'], 'the cluster CA');
  const credentials = {
    server: cluster.server.replace(/\/+$/, ''),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    ...(ca !== undefined && { ca }),
    ...(cert !== undefined && { cert, key }),
    ...(cluster['tls-server-name'] !== undefined && { tlsServerName: cluster['tls-server-name'] }),
    ...(context.namespace && { namespace: context.namespace }),
  };
  if (user.token !== undefined) return { ...credentials, ...tokenFrom({ value: user.token }, options) };
  if (user.tokenFile !== undefined) {
    return { ...credentials, ...tokenFrom({ file: path(user.tokenFile) }, options) };
  }
  if (user.username !== undefined) {
    const basic = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
    return { ...credentials, authorization: () => basic, rejected: () => {} };
  }
  return { ...credentials, authorization: () => undefined, rejected: () => {} };
}

/** A fixed token, or one read from a file again after a while (or after a 401), as it rotates. */
function tokenFrom(
  source: { value: string } | { file: string },
  options: LoadOptions,
): Pick<KubeCredentials, 'authorization' | 'rejected'> {
  if ('value' in source) {
    const header = `Bearer ${source.value}`;
    return { authorization: () => header, rejected: () => {} };
  }
  const maxAge = options.tokenFileMaxAgeMs ?? TOKEN_FILE_MAX_AGE_MS;
  const now = options.now ?? Date.now;
  let header: string | undefined;
  let readAt = -Infinity;
  const read = () => {
    // Read once up front so a missing token is a start-up error; later, keep the last good token if a
    // rotation leaves the file briefly unreadable.
    try {
      header = `Bearer ${readFileSync(source.file, 'utf8').trim()}`;
      readAt = now();
    } catch (err) {
      if (header === undefined) throw err;
    }
  };
  try {
    read();
  } catch (err) {
    throw new ConfigError([
      `--kubeconfig: cannot read the token file ${source.file}: ${(err as Error).message}`,
    ]);
  }
  return {
    authorization: () => {
      if (now() - readAt >= maxAge) read();
      return header;
    },
    rejected: () => {
      readAt = -Infinity;
    },
  };
}

function readOrFail(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError([`--kubeconfig: cannot read ${what} (${file}): ${(err as Error).message}`]);
  }
}
