// `npm run release -- --registry R [--version V] [--plain-http]`: publishes one version the way users
// install it. From package.json's version (or --version, written into package.json and every chart
// first): builds the image for linux/amd64 and linux/arm64 on locally made bases, checks both, takes the
// SBOM out of the image, packages both charts pointing at the pushed image by digest, and only then
// pushes: image blobs and manifests by digest, the SBOM (tag sha256-<index>.sbom), the image index
// under V, the library chart, the main chart, Artifact Hub metadata. A failing step names itself; before
// the push step nothing is in the registry, and a push that fails midway lists what was pushed.
//
//   R/startup-lock:V                      image index (amd64, arm64)
//   R/startup-lock:sha256-<hex>.sbom      CycloneDX SBOM, an OCI artifact whose subject is the index
//   oci://R/charts/startup-lock:V         main chart    (helm install … oci://R/charts/startup-lock)
//   oci://R/charts/startup-lock-client:V  library chart (dependency repository oci://R/charts)
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import {
  changelogEntries,
  chartsNamespace,
  checkVersion,
  stageCharts,
  syncVersions,
  versionMismatches,
} from './release/charts.js';
import {
  artifactHubMetadata,
  imageIndex,
  ociImageFromDocker,
  sbomArtifact,
  type OciImage,
  type Platform,
} from './release/oci-image.js';
import { Registry, descriptorOf, mediaTypes, parseRegistry } from './release/registry.js';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const imageName = 'startup-lock';
/** Gzipped layers by uncompressed digest (scripts/release/oci-image.ts); safe to delete. */
const layerCache = join(root, '.cache/release-layers');
const platforms: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
];

class StepFailed extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(message);
  }
}

const log = (line: string) => console.error(`release: ${line}`);

async function step<T>(name: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  log(`[${name}] …`);
  try {
    const result = await work();
    log(`[${name}] done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return result;
  } catch (err) {
    throw err instanceof StepFailed ? err : new StepFailed(name, (err as Error).message);
  }
}

/** Runs a command with its output on stderr (the release's log); the error carries the tail. */
function sh(command: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (chunk: Buffer) => {
      process.stderr.write(chunk);
      tail = (tail + chunk.toString()).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => reject(new Error(`${command}: ${err.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolveRun();
      else reject(new Error(`${command} ${args.slice(0, 2).join(' ')} exited ${code}:\n${tail.trim()}`));
    });
  });
}

function helmBinary(): string {
  const local = join(root, '.tools/bin/helm');
  return existsSync(local) ? local : 'helm';
}

interface Options {
  registry: string;
  version: string | undefined;
  plainHttp: boolean;
  buildImage: string;
  runtimeImage: string;
  arm64RuntimeImage: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      registry: { type: 'string' },
      version: { type: 'string' },
      'plain-http': { type: 'boolean', default: false },
      'build-image': {
        type: 'string',
        default: process.env.STARTUP_LOCK_BUILD_IMAGE ?? 'startup-lock/node-build:local',
      },
      'runtime-image': {
        type: 'string',
        default: process.env.STARTUP_LOCK_RUNTIME_IMAGE ?? 'startup-lock/node-runtime:local',
      },
      'arm64-runtime-image': {
        type: 'string',
        default: process.env.STARTUP_LOCK_RUNTIME_IMAGE_ARM64 ?? 'startup-lock/node-runtime:local-arm64',
      },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || values.registry === undefined) {
    console.error(
      [
        'usage: npm run release -- --registry HOST[:PORT][/NAMESPACE] [--version V] [--plain-http]',
        '  --registry R            push to oci://R/charts/{startup-lock,startup-lock-client} and R/startup-lock',
        '  --version V             release V (written into package.json and the charts first);',
        "                          default: package.json's version",
        '  --plain-http            talk HTTP, not HTTPS, to the registry (a local registry)',
        '  --build-image I         base of the npm/tsc stages (default startup-lock/node-build:local)',
        '  --runtime-image I       amd64 runtime base (default startup-lock/node-runtime:local)',
        '  --arm64-runtime-image I arm64 runtime base (default startup-lock/node-runtime:local-arm64)',
        'Credentials for a remote registry: REGISTRY_USERNAME / REGISTRY_PASSWORD, and `helm registry login`.',
      ].join('\n'),
    );
    process.exit(values.help ? 0 : 2);
  }
  return {
    registry: values.registry,
    version: values.version,
    plainHttp: values['plain-http'],
    buildImage: values['build-image'],
    runtimeImage: values['runtime-image'],
    arm64RuntimeImage: values['arm64-runtime-image'],
  };
}

async function packageVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Production packages with a native addon would need building per architecture: refuse them. */
async function nativeAddons(): Promise<string[]> {
  const { stdout } = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: root,
    maxBuffer: 16 << 20,
  });
  const found: string[] = [];
  for (const dir of stdout.split('\n').slice(1).filter(Boolean)) {
    if (existsSync(join(dir, 'binding.gyp'))) found.push(dir);
    else if (
      (await readdir(dir, { recursive: true })).some(
        (f) => f.endsWith('.node') && !f.includes('node_modules'),
      )
    ) {
      found.push(dir);
    }
  }
  return found.map((d) => d.slice(root.length + 1));
}

async function imageVersion(tag: string): Promise<string> {
  const { stdout } = await run('docker', ['run', '--rm', '--network', 'host', tag, '--version'], {
    timeout: 120_000,
  });
  return stdout.trim();
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const { host, namespace } = parseRegistry(o.registry);
  const registryPath = namespace === '' ? host : `${host}/${namespace}`;
  const repo = (name: string) => (namespace === '' ? name : `${namespace}/${name}`);
  const imageRepository = `${registryPath}/${imageName}`;
  const registry = new Registry(host, o.plainHttp);
  const work = await mkdtemp(join(tmpdir(), 'startup-lock-release-'));
  const pushed: string[] = [];

  try {
    const version = await step('version', async () => {
      const current = await packageVersion();
      const wanted = o.version ?? current;
      checkVersion(wanted);
      if (wanted !== current) {
        await sh('npm', ['version', wanted, '--no-git-tag-version', '--allow-same-version']);
      }
      const changed = await syncVersions(root, wanted);
      const left = await versionMismatches(root, wanted);
      if (left.length > 0) throw new Error(`versions still disagree with ${wanted}:\n  ${left.join('\n  ')}`);
      log(
        `version ${wanted}${changed.length > 0 ? ` (written into ${changed.join(', ')}: commit them)` : ''}`,
      );
      return wanted;
    });
    const changes = await step('changelog', async () => {
      const { section, changes: entries } = changelogEntries(
        await readFile(join(root, 'CHANGELOG.md'), 'utf8'),
        version,
      );
      if (section !== version) log(`CHANGELOG.md has no [${version}] section: using [${section}]`);
      return entries;
    });

    await step('registry', async () => {
      await registry.ping().catch((err: Error) => {
        throw new Error(`the registry ${registry.base} cannot be reached: ${err.message}`);
      });
      const targets = [
        repo(imageName),
        repo(`${chartsNamespace}/startup-lock`),
        repo(`${chartsNamespace}/startup-lock-client`),
      ];
      for (const target of targets) {
        if (await registry.hasManifest(target, version)) {
          throw new Error(`${host}/${target}:${version} exists already; a version is released once`);
        }
      }
    });

    await step('production dependencies', async () => {
      const addons = await nativeAddons();
      if (addons.length > 0) {
        throw new Error(`native addons cannot be copied across architectures: ${addons.join(', ')}`);
      }
    });

    await step('base images', async () => {
      // The build stages run natively and the arm64 runtime base is the foreign one (Debian multiarch).
      if (process.arch !== 'x64')
        throw new Error(`releases are built on an amd64 machine, this is ${process.arch}`);
      await sh('bash', ['scripts/docker-base-images.sh'], {
        STARTUP_LOCK_BUILD_IMAGE: o.buildImage,
        STARTUP_LOCK_RUNTIME_IMAGE: o.runtimeImage,
      });
      await sh('bash', ['scripts/docker-base-images.sh'], {
        STARTUP_LOCK_BASE_ARCH: 'arm64',
        STARTUP_LOCK_RUNTIME_IMAGE: o.arm64RuntimeImage,
        STARTUP_LOCK_BASE_SYSROOT: process.env.STARTUP_LOCK_ARM64_SYSROOT ?? '',
      });
    });

    const revision = await run('git', ['rev-parse', 'HEAD'], { cwd: root }).then(
      (r) => r.stdout.trim(),
      () => 'unknown',
    );
    // The commit's date, not the clock's: an unchanged tree rebuilds to the same image (layer cache hit).
    const created = await run('git', ['log', '-1', '--format=%cI'], { cwd: root }).then(
      (r) => new Date(r.stdout.trim()).toISOString(),
      () => new Date().toISOString(),
    );
    const localTags = new Map<string, string>();
    for (const platform of platforms) {
      const arch = platform.architecture;
      await step(`build linux/${arch}`, async () => {
        const tag = `startup-lock:release-${version}-${arch}`;
        await sh('docker', [
          'build',
          '--network',
          'host',
          '--force-rm',
          '--build-arg',
          `BUILD_IMAGE=${o.buildImage}`,
          '--build-arg',
          `RUNTIME_IMAGE=${arch === 'amd64' ? o.runtimeImage : o.arm64RuntimeImage}`,
          '--build-arg',
          `VERSION=${version}`,
          '--build-arg',
          `REVISION=${revision}`,
          '--build-arg',
          `CREATED=${created}`,
          '--tag',
          tag,
          '.',
        ]);
        localTags.set(arch, tag);
      });
    }

    await step('check images', async () => {
      for (const [arch, tag] of localTags) {
        const printed = await imageVersion(tag);
        if (printed !== version)
          throw new Error(`linux/${arch} image prints version "${printed}", not ${version}`);
        log(`linux/${arch}: startup-lock --version → ${printed}`);
      }
    });

    const sbom = await step('sbom', async () => {
      const read = async (tag: string) => {
        const { stdout: id } = await run('docker', ['create', tag]);
        try {
          const out = join(work, `sbom-${id.trim()}.json`);
          await run('docker', ['cp', `${id.trim()}:/app/sbom.cdx.json`, out]);
          return await readFile(out);
        } finally {
          await run('docker', ['rm', id.trim()]).catch(() => undefined);
        }
      };
      const [amd64, arm64] = [
        await read(localTags.get('amd64') ?? ''),
        await read(localTags.get('arm64') ?? ''),
      ];
      if (!amd64.equals(arm64)) throw new Error('the two images carry different SBOMs');
      const bom = JSON.parse(amd64.toString()) as {
        bomFormat?: string;
        metadata?: { component?: { version?: string } };
      };
      if (bom.bomFormat !== 'CycloneDX' || bom.metadata?.component?.version !== version) {
        throw new Error(`/app/sbom.cdx.json is not a CycloneDX SBOM of startup-lock ${version}`);
      }
      return amd64;
    });

    const assembled = await step('assemble image index', async () => {
      const annotations = {
        'org.opencontainers.image.version': version,
        'org.opencontainers.image.revision': revision,
        'org.opencontainers.image.created': created,
        'org.opencontainers.image.source': 'https://github.com/startup-lock/startup-lock',
      };
      const images: OciImage[] = [];
      for (const platform of platforms) {
        images.push(
          await ociImageFromDocker(
            localTags.get(platform.architecture) ?? '',
            platform,
            work,
            annotations,
            layerCache,
          ),
        );
      }
      const index = imageIndex(images, annotations);
      const indexDescriptor = descriptorOf(mediaTypes.index, index);
      const sbomPush = sbomArtifact(sbom, indexDescriptor, { 'org.opencontainers.image.version': version });
      log(`image index ${indexDescriptor.digest}`);
      for (const image of images) {
        const manifest = JSON.parse(image.manifest.toString()) as { layers: { size: number }[] };
        const compressed = manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
        log(
          `  linux/${image.platform.architecture} ${image.descriptor.digest} (${(compressed / 1e6).toFixed(1)} MB compressed)`,
        );
      }
      return { images, index, indexDescriptor, sbomPush };
    });

    const charts = await step('package charts', async () => {
      const staged = await stageCharts({
        root,
        stageDir: join(work, 'charts'),
        version,
        registry: registryPath,
        imageRepository,
        indexDigest: assembled.indexDescriptor.digest,
        platforms: platforms.map((p) => `${p.os}/${p.architecture}`),
        changes,
      });
      const out = join(work, 'packages');
      await mkdir(out, { recursive: true });
      const helm = helmBinary();
      await sh(helm, ['lint', '--strict', staged.main]);
      await sh(helm, ['lint', '--strict', staged.library]);
      await sh(helm, ['template', 'release-check', staged.main, '--output-dir', join(work, 'rendered')]);
      await sh(helm, ['package', staged.library, '--destination', out]);
      await sh(helm, ['package', staged.main, '--destination', out]);
      return {
        library: join(out, `startup-lock-client-${version}.tgz`),
        main: join(out, `startup-lock-${version}.tgz`),
      };
    });

    await step('push', async () => {
      const imageRepo = repo(imageName);
      for (const image of assembled.images) {
        for (const [digest, blob] of image.blobs) await registry.pushBlob(imageRepo, blob, digest);
        await registry.putManifest(imageRepo, image.descriptor.digest, mediaTypes.manifest, image.manifest);
        pushed.push(
          `${host}/${imageRepo}@${image.descriptor.digest} (linux/${image.platform.architecture}, untagged)`,
        );
      }
      await registry.putManifest(
        imageRepo,
        assembled.indexDescriptor.digest,
        mediaTypes.index,
        assembled.index,
      );
      pushed.push(`${host}/${imageRepo}@${assembled.indexDescriptor.digest} (index, untagged)`);
      for (const [digest, blob] of assembled.sbomPush.blobs) await registry.pushBlob(imageRepo, blob, digest);
      await registry.putManifest(
        imageRepo,
        assembled.sbomPush.tag,
        mediaTypes.manifest,
        assembled.sbomPush.manifest,
      );
      pushed.push(`${host}/${imageRepo}:${assembled.sbomPush.tag} (SBOM)`);
      // The version's tags, image first: a chart must never name an image that is not there.
      await registry.putManifest(imageRepo, version, mediaTypes.index, assembled.index);
      pushed.push(`${host}/${imageRepo}:${version} (image index)`);
      const helm = helmBinary();
      const plain = o.plainHttp ? ['--plain-http'] : [];
      await sh(helm, ['push', charts.library, `oci://${registryPath}/${chartsNamespace}`, ...plain]);
      pushed.push(`oci://${registryPath}/${chartsNamespace}/startup-lock-client:${version}`);
      await sh(helm, ['push', charts.main, `oci://${registryPath}/${chartsNamespace}`, ...plain]);
      pushed.push(`oci://${registryPath}/${chartsNamespace}/startup-lock:${version}`);
      const metadata = artifactHubMetadata(await readFile(join(root, 'artifacthub-repo.yml')));
      for (const chart of ['startup-lock', 'startup-lock-client']) {
        const chartRepo = repo(`${chartsNamespace}/${chart}`);
        for (const [digest, blob] of metadata.blobs) await registry.pushBlob(chartRepo, blob, digest);
        await registry.putManifest(chartRepo, metadata.tag, mediaTypes.manifest, metadata.manifest);
        pushed.push(`${host}/${chartRepo}:${metadata.tag} (Artifact Hub metadata)`);
      }
    });

    const summary = {
      version,
      image: `${imageRepository}:${version}@${assembled.indexDescriptor.digest}`,
      platforms: Object.fromEntries(
        assembled.images.map((i) => [`linux/${i.platform.architecture}`, i.descriptor.digest]),
      ),
      sbom: `${imageRepository}:${assembled.sbomPush.tag}`,
      charts: [
        `oci://${registryPath}/${chartsNamespace}/startup-lock`,
        `oci://${registryPath}/${chartsNamespace}/startup-lock-client`,
      ],
    };
    await mkdir(join(root, '.cache'), { recursive: true });
    await writeFile(join(root, '.cache/release.json'), JSON.stringify(summary, null, 2));
    log(`released ${version}`);
    console.log(JSON.stringify(summary, null, 2));
  } catch (err) {
    const stepName = err instanceof StepFailed ? err.step : 'release';
    log(`FAILED at step "${stepName}": ${(err as Error).message}`);
    log(pushed.length === 0 ? 'pushed: nothing' : `pushed before the failure:\n  ${pushed.join('\n  ')}`);
    process.exitCode = 1;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
