// The few calls of the OCI distribution API the release needs (and its test reads back with): blobs
// and manifests pushed by digest, a tag put last. Plain HTTP for a local registry; anonymous, Basic or
// the Bearer token flow (Docker Hub, GHCR) with REGISTRY_USERNAME / REGISTRY_PASSWORD.
import { createHash } from 'node:crypto';

export const mediaTypes = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json',
  cyclonedx: 'application/vnd.cyclonedx+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
  artifactType?: string;
}

export const sha256 = (data: Buffer | string): string =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;

export function descriptorOf(mediaType: string, data: Buffer): Descriptor {
  return { mediaType, digest: sha256(data), size: data.length };
}

/** `host[:port][/namespace…]` → the registry's host and the prefix of every repository in it. */
export function parseRegistry(reference: string): { host: string; namespace: string } {
  const trimmed = reference.replace(/^oci:\/\//, '').replace(/\/+$/, '');
  const [host, ...rest] = trimmed.split('/');
  if (!host || !/^[A-Za-z0-9.-]+(:\d+)?$/.test(host)) {
    throw new Error(`--registry ${reference}: expected host[:port][/namespace], e.g. ghcr.io/startup-lock`);
  }
  return { host, namespace: rest.join('/') };
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
}

export class Registry {
  readonly base: string;
  private readonly tokens = new Map<string, string>();

  constructor(
    readonly host: string,
    plainHttp: boolean,
    private readonly credentials = registryCredentials(),
  ) {
    this.base = `${plainHttp ? 'http' : 'https'}://${host}`;
  }

  /** Throws unless the registry answers the API base (200, or 401 asking for credentials). */
  async ping(): Promise<void> {
    const res = await this.fetchRaw('GET', '/v2/', {}, undefined, 5000);
    await res.body?.cancel();
    if (res.status !== 200 && res.status !== 401) {
      throw new RegistryError(`${this.base}/v2/ answered HTTP ${res.status}, not an OCI registry`);
    }
  }

  async hasManifest(repo: string, ref: string): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${repo}/manifests/${ref}`, repo, {
      accept: [mediaTypes.index, mediaTypes.manifest, mediaTypes.dockerList, mediaTypes.dockerManifest].join(
        ',',
      ),
    });
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw new RegistryError(`HEAD ${repo}:${ref} answered HTTP ${res.status}`);
  }

  async getManifest(repo: string, ref: string): Promise<{ mediaType: string; digest: string; body: Buffer }> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${ref}`, repo, {
      accept: [mediaTypes.index, mediaTypes.manifest, mediaTypes.dockerList, mediaTypes.dockerManifest].join(
        ',',
      ),
    });
    if (!res.ok) throw new RegistryError(`GET manifest ${repo}:${ref} answered HTTP ${res.status}`);
    const body = Buffer.from(await res.arrayBuffer());
    return { mediaType: res.headers.get('content-type') ?? '', digest: sha256(body), body };
  }

  async getBlob(repo: string, digest: string): Promise<Buffer> {
    const res = await this.request('GET', `/v2/${repo}/blobs/${digest}`, repo);
    if (!res.ok) throw new RegistryError(`GET blob ${repo}@${digest} answered HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** Uploads a blob unless the repository has it already (POST, then one monolithic PUT). */
  async pushBlob(repo: string, data: Buffer, digest = sha256(data)): Promise<'pushed' | 'present'> {
    const head = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`, repo);
    if (head.ok) return 'present';
    const start = await this.request('POST', `/v2/${repo}/blobs/uploads/`, repo, { 'content-length': '0' });
    await start.body?.cancel();
    const location = start.headers.get('location');
    if (start.status !== 202 || location === null) {
      throw new RegistryError(`starting the upload of ${digest} to ${repo} answered HTTP ${start.status}`);
    }
    const url = new URL(location, this.base);
    url.searchParams.set('digest', digest);
    const put = await this.request(
      'PUT',
      url.pathname + url.search,
      repo,
      {
        'content-type': 'application/octet-stream',
      },
      data,
    );
    await put.body?.cancel();
    if (put.status !== 201)
      throw new RegistryError(`uploading ${digest} to ${repo} answered HTTP ${put.status}`);
    return 'pushed';
  }

  /** PUT a manifest under a digest or a tag; returns the digest the registry computed. */
  async putManifest(repo: string, ref: string, mediaType: string, body: Buffer): Promise<string> {
    const res = await this.request(
      'PUT',
      `/v2/${repo}/manifests/${ref}`,
      repo,
      { 'content-type': mediaType },
      body,
    );
    const text = await res.text();
    if (res.status !== 201) {
      throw new RegistryError(
        `PUT manifest ${repo}:${ref} answered HTTP ${res.status}: ${text.slice(0, 300)}`,
      );
    }
    return res.headers.get('docker-content-digest') ?? sha256(body);
  }

  private async request(
    method: string,
    path: string,
    repo: string,
    headers: Record<string, string> = {},
    body?: Buffer,
  ): Promise<Response> {
    const scope = `repository:${repo}:pull,push`;
    const token = this.tokens.get(scope);
    const withAuth = token === undefined ? headers : { ...headers, authorization: token };
    const res = await this.fetchRaw(method, path, withAuth, body);
    if (res.status !== 401) return res;
    await res.body?.cancel();
    const auth = await this.authorize(res.headers.get('www-authenticate') ?? '', scope);
    this.tokens.set(scope, auth);
    return this.fetchRaw(method, path, { ...headers, authorization: auth }, body);
  }

  private async fetchRaw(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Buffer,
    timeoutMs = 300_000,
  ): Promise<Response> {
    try {
      return await fetch(new URL(path, this.base), {
        method,
        headers,
        body: body === undefined ? null : new Uint8Array(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new RegistryError(
        `${method} ${this.base}${path}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      );
    }
  }

  private async authorize(challenge: string, scope: string): Promise<string> {
    const basic =
      this.credentials === undefined
        ? undefined
        : `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
    if (/^Basic/i.test(challenge)) {
      if (basic === undefined)
        throw new RegistryError(
          `${this.host} wants credentials: set REGISTRY_USERNAME and REGISTRY_PASSWORD`,
        );
      return basic;
    }
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!/^Bearer/i.test(challenge) || params.realm === undefined) {
      throw new RegistryError(
        `${this.host} answered 401 with an unusable challenge: ${challenge || '(none)'}`,
      );
    }
    const url = new URL(params.realm);
    if (params.service !== undefined) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', scope);
    const res = await fetch(url, { headers: basic === undefined ? {} : { authorization: basic } });
    if (!res.ok) throw new RegistryError(`token for ${scope} from ${url.host}: HTTP ${res.status}`);
    const json = (await res.json()) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (token === undefined)
      throw new RegistryError(`token for ${scope} from ${url.host}: no token in the answer`);
    return `Bearer ${token}`;
  }
}

function registryCredentials(): { username: string; password: string } | undefined {
  const username = process.env.REGISTRY_USERNAME;
  const password = process.env.REGISTRY_PASSWORD;
  return username && password ? { username, password } : undefined;
}
