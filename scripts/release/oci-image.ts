// Turns a locally built image (`docker save`) into OCI blobs and manifests, before anything is pushed:
// the release knows every digest (image index, per-architecture manifests) up front, so the charts'
// annotations can name them and a failed step leaves the registry untouched. Layers are gzipped here;
// identical layers of the two architectures (the application's) become one blob, and a gzipped layer is
// kept in a cache directory by its uncompressed digest, so the base layers are compressed once, not at
// every release.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { descriptorOf, mediaTypes, sha256, type Descriptor } from './registry.js';

const run = promisify(execFile);
const gzipAsync = promisify(gzip);

export interface Platform {
  os: 'linux';
  architecture: 'amd64' | 'arm64';
  variant?: string;
}

export interface OciImage {
  platform: Platform;
  /** blobs by digest: config and gzipped layers */
  blobs: Map<string, Buffer>;
  manifest: Buffer;
  descriptor: Descriptor;
}

interface SavedManifest {
  Config: string;
  Layers: string[];
}

const gzipped = new Map<string, Promise<Buffer>>();

async function gzipLayer(raw: Buffer, diffId: string, cacheDir: string): Promise<Buffer> {
  const path = join(cacheDir, `${diffId.replace(':', '-')}.tar.gz`);
  const cached = await readFile(path).catch(() => undefined);
  if (cached !== undefined) return cached;
  const blob = await gzipAsync(raw, { level: 6 });
  await mkdir(cacheDir, { recursive: true });
  await writeFile(`${path}.${process.pid}.tmp`, blob);
  await rename(`${path}.${process.pid}.tmp`, path);
  return blob;
}

/**
 * Saves `tag` from the engine into `workDir` and assembles its OCI manifest. The config's platform is
 * set to `platform`: a base image made by `docker import` on an older engine is labelled with the
 * engine's own architecture whatever it holds, while the registry must say what the layers are.
 */
export async function ociImageFromDocker(
  tag: string,
  platform: Platform,
  workDir: string,
  annotations: Record<string, string>,
  layerCacheDir: string,
): Promise<OciImage> {
  const dir = join(workDir, `${platform.architecture}-saved`);
  await mkdir(dir, { recursive: true });
  const archive = join(workDir, `${platform.architecture}.tar`);
  await run('docker', ['save', '--output', archive, tag], { maxBuffer: 16 * 1024 * 1024 });
  await run('tar', ['-xf', archive, '-C', dir]);
  const [saved] = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as SavedManifest[];
  if (saved === undefined) throw new Error(`docker save ${tag}: no image in the archive`);

  const config = JSON.parse(await readFile(join(dir, saved.Config), 'utf8')) as Record<string, unknown> & {
    rootfs: { diff_ids: string[] };
  };
  config.os = platform.os;
  config.architecture = platform.architecture;
  if (platform.variant !== undefined) config.variant = platform.variant;
  else delete config.variant;
  const configBlob = Buffer.from(JSON.stringify(config));

  const blobs = new Map<string, Buffer>([[sha256(configBlob), configBlob]]);
  const layers: Descriptor[] = [];
  for (const [i, layerPath] of saved.Layers.entries()) {
    const diffId = config.rootfs.diff_ids[i];
    if (diffId === undefined) throw new Error(`docker save ${tag}: layer ${i} has no diff_id`);
    const raw = await readFile(join(dir, layerPath));
    if (sha256(raw) !== diffId)
      throw new Error(`docker save ${tag}: layer ${layerPath} does not match ${diffId}`);
    let compressed = gzipped.get(diffId);
    if (compressed === undefined) {
      compressed = gzipLayer(raw, diffId, layerCacheDir);
      gzipped.set(diffId, compressed);
    }
    const blob = await compressed;
    blobs.set(sha256(blob), blob);
    layers.push(descriptorOf(mediaTypes.layer, blob));
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.manifest,
      config: descriptorOf(mediaTypes.config, configBlob),
      layers,
      annotations,
    }),
  );
  return {
    platform,
    blobs,
    manifest,
    descriptor: { ...descriptorOf(mediaTypes.manifest, manifest), platform: { ...platform } },
  };
}

/** The multi-architecture index (manifest list) over the per-architecture manifests. */
export function imageIndex(images: OciImage[], annotations: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.index,
      manifests: images.map((image) => image.descriptor),
      annotations,
    }),
  );
}

/**
 * The SBOM as an OCI artifact that refers to the image index (`subject`), tagged the way cosign tags
 * an attached SBOM (`sha256-<index hex>.sbom`), so `cosign download sbom` and plain registry reads
 * both find it.
 */
export function sbomArtifact(
  sbom: Buffer,
  subject: Descriptor,
  annotations: Record<string, string>,
): { blobs: Map<string, Buffer>; manifest: Buffer; tag: string } {
  const empty = Buffer.from('{}');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.manifest,
      artifactType: mediaTypes.cyclonedx,
      config: descriptorOf(mediaTypes.empty, empty),
      layers: [
        {
          ...descriptorOf(mediaTypes.cyclonedx, sbom),
          annotations: { 'org.opencontainers.image.title': 'sbom.cdx.json' },
        },
      ],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations,
    }),
  );
  return {
    blobs: new Map([
      [sha256(empty), empty],
      [sha256(sbom), sbom],
    ]),
    manifest,
    tag: `${subject.digest.replace(':', '-')}.sbom`,
  };
}

/** Artifact Hub's repository metadata (artifacthub-repo.yml) as the `artifacthub.io` tag it reads. */
export function artifactHubMetadata(yml: Buffer): {
  blobs: Map<string, Buffer>;
  manifest: Buffer;
  tag: string;
} {
  const empty = Buffer.alloc(0);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: mediaTypes.manifest,
      config: descriptorOf('application/vnd.cncf.artifacthub.config.v1+yaml', empty),
      layers: [
        {
          ...descriptorOf('application/vnd.cncf.artifacthub.repository-metadata.layer.v1.yaml', yml),
          annotations: { 'org.opencontainers.image.title': 'artifacthub-repo.yml' },
        },
      ],
    }),
  );
  return {
    blobs: new Map([
      [sha256(empty), empty],
      [sha256(yml), yml],
    ]),
    manifest,
    tag: 'artifacthub.io',
  };
}
