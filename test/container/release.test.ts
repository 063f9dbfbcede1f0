// `npm run release` into a real OCI registry (Debian's docker-registry on 127.0.0.1), then, from a fresh
// directory, what a user does with it: helm template from oci://, an app chart whose dependency is the
// OCI library chart, the image index's platforms, the arm64 image under qemu, the amd64 image pulled
// back by digest running the container tests, and the SBOM beside it. Failing steps push nothing.
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { Registry, mediaTypes } from '../../scripts/release/registry.js';
import { repoRoot, requireDocker } from './support/docker.js';
import {
  helmBin,
  registryTags,
  requireReleaseTools,
  startFailingProxy,
  startRegistry,
  type RunningRegistry,
} from './support/registry.js';
import { freePort } from './support/server.js';

const run = promisify(execFile);

interface Released {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function release(args: string[], env: Record<string, string> = {}): Promise<Released> {
  const started = Date.now();
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/release.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

const stepLines = (r: Released) =>
  r.stderr
    .split('\n')
    .filter((l) => l.startsWith('release: '))
    .join('\n');

interface Summary {
  version: string;
  image: string;
  platforms: Record<string, string>;
  sbom: string;
}

interface CdxComponent {
  name: string;
  group?: string;
  version: string;
  licenses?: { license?: { id?: string; name?: string }; expression?: string }[];
}

describe('release into an OCI registry, installed from it as a user would', function () {
  let registry: RunningRegistry | undefined;
  let host: string;
  let version: string;
  let summary: Summary;
  let userDir: string;
  let missingArm64: Released;
  let tagsAfterFailure: Record<string, string[]>;
  const pulled: string[] = [];

  before(async function () {
    this.timeout(30 * 60_000);
    await requireDocker(this);
    await requireReleaseTools(this);
    version = (JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string })
      .version;
    registry = await startRegistry();
    host = registry.host;
    userDir = await mkdtemp(join(tmpdir(), 'startup-lock-user-'));

    // First a release that cannot build the arm64 base (no arm64 libraries under the sysroot): it must
    // stop before pushing anything, so the real release below finds the version free.
    const emptySysroot = join(userDir, 'empty-sysroot');
    await mkdir(emptySysroot);
    missingArm64 = await release(
      [
        '--registry',
        host,
        '--plain-http',
        '--arm64-runtime-image',
        `startup-lock/node-runtime:missing-${process.pid}`,
      ],
      { STARTUP_LOCK_ARM64_SYSROOT: emptySysroot },
    );
    tagsAfterFailure = await registryTags(host);

    const released = await release(['--registry', host, '--plain-http']);
    if (released.code !== 0)
      throw new Error(`release exited ${released.code}:\n${released.stderr.slice(-4000)}`);
    summary = JSON.parse(released.stdout) as Summary;
    console.log(
      `      release into ${host}: ${(released.ms / 1000).toFixed(1)} s\n${stepLines(released).replace(/^/gm, '        ')}`,
    );
  });

  after(async function () {
    this.timeout(60_000);
    for (const ref of pulled) await run('docker', ['rmi', ref]).catch(() => undefined);
    await registry?.stop();
    if (userDir) await rm(userDir, { recursive: true, force: true });
  });

  it('a step that cannot run (no arm64 libraries) exits non-zero, names the step and pushes nothing', function () {
    expect(missingArm64.code, missingArm64.stderr).to.equal(1);
    expect(missingArm64.stderr).to.include('FAILED at step "base images"');
    expect(missingArm64.stderr).to.match(/arm64 libraries are missing/);
    expect(missingArm64.stderr).to.include('pushed: nothing');
    expect(tagsAfterFailure).to.deep.equal({});
  });

  it('a registry that is down (closed port) fails at the "registry" step and pushes nothing', async function () {
    this.timeout(60_000);
    const closed = await release(['--registry', `127.0.0.1:${await freePort()}`, '--plain-http']);
    expect(closed.code).to.equal(1);
    expect(closed.stderr).to.match(
      /FAILED at step "registry": the registry http:\/\/127\.0\.0\.1:\d+ cannot be reached/,
    );
    expect(closed.stderr).to.include('pushed: nothing');
    expect(closed.stderr).to.match(/ECONNREFUSED/);
  });

  it('a push that fails midway (the main chart refused) exits non-zero and lists what it pushed', async function () {
    this.timeout(10 * 60_000);
    const other = await startRegistry();
    const proxy = await startFailingProxy(
      other.host,
      (method, url) => method === 'PUT' && url.startsWith('/v2/charts/startup-lock/manifests/'),
    );
    try {
      const midway = await release(['--registry', proxy.host, '--plain-http']);
      expect(midway.code, midway.stderr.slice(-3000)).to.equal(1);
      expect(midway.stderr).to.include('FAILED at step "push"');
      const listed = midway.stderr.split('pushed before the failure:\n')[1] ?? '';
      expect(listed).to.include('(linux/amd64, untagged)');
      expect(listed).to.include('(linux/arm64, untagged)');
      expect(listed).to.include('.sbom (SBOM)');
      expect(listed).to.include(`startup-lock:${version} (image index)`);
      expect(listed).to.include(`charts/startup-lock-client:${version}`);
      expect(listed).to.not.include(`charts/startup-lock:${version}`);
      // What it says is what the registry holds.
      const tags = await registryTags(other.host);
      expect(tags['charts/startup-lock'] ?? []).to.deep.equal([]); // its blobs may be there, no tag
      expect(tags['charts/startup-lock-client']).to.deep.equal([version]);
      expect(tags['startup-lock']).to.include(version);
    } finally {
      await proxy.stop();
      await other.stop();
    }
  });

  it('publishes the image, its SBOM and both charts under the version, and nothing else', async function () {
    const tags = Object.fromEntries(Object.entries(await registryTags(host)).map(([r, t]) => [r, t.sort()]));
    const indexHex = summary.image.split('@sha256:')[1];
    expect(tags).to.deep.equal({
      'charts/startup-lock': [version, 'artifacthub.io'].sort(),
      'charts/startup-lock-client': [version, 'artifacthub.io'].sort(),
      'startup-lock': [version, `sha256-${indexHex}.sbom`].sort(),
    });
    // Refuses to publish the same version twice.
    const again = await release(['--registry', host, '--plain-http']);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/FAILED at step "registry": .*startup-lock:.* exists already/);
  });

  it('helm template oci://…/charts/startup-lock renders, with the image the release pushed', async function () {
    this.timeout(60_000);
    const { stdout } = await run(
      helmBin,
      ['template', 'startup-lock', `oci://${host}/charts/startup-lock`, '--version', version, '--plain-http'],
      { cwd: userDir },
    );
    const objects = parseAllDocuments(stdout).map((d) => d.toJS() as { kind?: string; spec?: unknown });
    const daemonSet = objects.find((o) => o.kind === 'DaemonSet') as
      { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined;
    expect(daemonSet, 'a DaemonSet').to.not.equal(undefined);
    expect(daemonSet?.spec.template.spec.containers[0]?.image).to.equal(`${host}/startup-lock:${version}`);

    const { stdout: chartYaml } = await run(
      helmBin,
      ['show', 'chart', `oci://${host}/charts/startup-lock`, '--version', version, '--plain-http'],
      { cwd: userDir },
    );
    expect(chartYaml).to.include(`image: ${summary.image}`);
    expect(chartYaml).to.include('- linux/arm64');
    expect(chartYaml).to.match(/artifacthub\.io\/changes: \|\n\s+- kind: added/);
  });

  it('an app chart depending on the OCI library chart runs helm dependency update and renders the init container', async function () {
    this.timeout(60_000);
    const app = join(userDir, 'my-app');
    await cp(join(repoRoot, 'examples/app-chart/templates'), join(app, 'templates'), { recursive: true });
    await cp(join(repoRoot, 'examples/app-chart/values.yaml'), join(app, 'values.yaml'));
    await writeFile(
      join(app, 'Chart.yaml'),
      [
        'apiVersion: v2',
        'name: my-app',
        'version: 1.0.0',
        'dependencies:',
        '  - name: startup-lock-client',
        `    version: ${version}`,
        `    repository: oci://${host}/charts`,
        '',
      ].join('\n'),
    );
    await run(helmBin, ['dependency', 'update', app, '--plain-http'], { cwd: userDir });
    const { stdout } = await run(helmBin, ['template', 'demo', app], { cwd: userDir });
    const deployment = parseAllDocuments(stdout)
      .map(
        (d) =>
          d.toJS() as {
            kind?: string;
            spec?: {
              template: { spec: { initContainers?: { name: string; image: string; args: string[] }[] } };
            };
          },
      )
      .find((o) => o.kind === 'Deployment');
    const init = deployment?.spec?.template.spec.initContainers?.[0];
    expect(init?.name).to.equal('startup-lock');
    expect(init?.args[0]).to.equal('acquire');
    // The library chart from the registry names the image beside it.
    expect(init?.image).to.equal(`${host}/startup-lock:${version}`);
  });

  it('the image index holds linux/amd64 and linux/arm64 (docker manifest inspect)', async function () {
    this.timeout(30_000);
    const { stdout } = await run('docker', [
      'manifest',
      'inspect',
      '--insecure',
      `${host}/startup-lock:${version}`,
    ]);
    const index = JSON.parse(stdout) as {
      mediaType: string;
      manifests: { digest: string; platform: { architecture: string; os: string } }[];
    };
    expect(index.mediaType).to.equal(mediaTypes.index);
    expect(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`)).to.have.members([
      'linux/amd64',
      'linux/arm64',
    ]);
    for (const m of index.manifests)
      expect(summary.platforms[`linux/${m.platform.architecture}`]).to.equal(m.digest);
    // Each manifest's config says what its layers are.
    const api = new Registry(host, true);
    for (const m of index.manifests) {
      const manifest = JSON.parse((await api.getManifest('startup-lock', m.digest)).body.toString()) as {
        config: { digest: string };
      };
      const config = JSON.parse((await api.getBlob('startup-lock', manifest.config.digest)).toString()) as {
        architecture: string;
        config: { Labels: Record<string, string> };
      };
      expect(config.architecture).to.equal(m.platform.architecture);
      expect(config.config.Labels['org.opencontainers.image.version']).to.equal(version);
    }
  });

  it("the arm64 image's `startup-lock --version` runs under qemu and prints the release's version", async function () {
    this.timeout(180_000);
    const ref = `${host}/startup-lock@${summary.platforms['linux/arm64']}`;
    await run('docker', ['pull', ref], { timeout: 120_000 });
    pulled.push(ref);
    const { stdout } = await run(
      'docker',
      ['run', '--rm', '--network', 'host', '--read-only', '--cap-drop', 'ALL', ref, '--version'],
      { timeout: 60_000 },
    );
    expect(stdout.trim()).to.equal(version);
    const { stdout: arch } = await run(
      'docker',
      ['run', '--rm', '--network', 'host', '--entrypoint', 'node', ref, '-p', 'process.arch'],
      { timeout: 60_000 },
    );
    expect(arch.trim()).to.equal('arm64');
  });

  it('the amd64 image pulled back by digest passes the server and acquire container tests', async function () {
    this.timeout(10 * 60_000);
    const ref = `${host}/startup-lock@${summary.platforms['linux/amd64']}`;
    await run('docker', ['pull', ref], { timeout: 120_000 });
    pulled.push(ref);
    const result = await new Promise<{ code: number | null; out: string }>((resolveRun, reject) => {
      const child = spawn(
        process.execPath,
        [
          join(repoRoot, 'node_modules/mocha/bin/mocha.js'),
          'test/container/server.test.ts',
          'test/container/acquire.test.ts',
        ],
        {
          cwd: repoRoot,
          env: { ...process.env, STARTUP_LOCK_E2E_IMAGE: ref, STARTUP_LOCK_E2E_SKIP_BUILD: 'true' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolveRun({ code, out }));
    });
    expect(result.code, result.out).to.equal(0);
    const passing = /(\d+) passing/.exec(result.out)?.[1];
    console.log(`      container tests against ${ref}: ${passing ?? '?'} passing`);
    expect(Number(passing)).to.be.greaterThan(5);
    expect(result.out).to.not.match(/\d+ (pending|failing)/);
  });

  it('ships a valid CycloneDX SBOM in the image and beside it, listing every production dependency with version and licence', async function () {
    this.timeout(120_000);
    const api = new Registry(host, true);
    const sbomTag = summary.sbom.split(':').pop() as string;
    const artifact = JSON.parse((await api.getManifest('startup-lock', sbomTag)).body.toString()) as {
      artifactType: string;
      layers: { mediaType: string; digest: string }[];
      subject: { digest: string };
    };
    expect(artifact.artifactType).to.equal(mediaTypes.cyclonedx);
    expect(artifact.subject.digest).to.equal(summary.image.split('@')[1]);
    const beside = await api.getBlob('startup-lock', artifact.layers[0]?.digest ?? '');

    // The same bytes as /app/sbom.cdx.json in the pushed amd64 image.
    const ref = `${host}/startup-lock@${summary.platforms['linux/amd64']}`;
    if (!pulled.includes(ref)) {
      await run('docker', ['pull', ref], { timeout: 120_000 });
      pulled.push(ref);
    }
    const { stdout: id } = await run('docker', ['create', ref]);
    const copied = join(userDir, 'sbom.cdx.json');
    try {
      await run('docker', ['cp', `${id.trim()}:/app/sbom.cdx.json`, copied]);
    } finally {
      await run('docker', ['rm', id.trim()]).catch(() => undefined);
    }
    expect((await readFile(copied)).equals(beside), 'registry SBOM = image SBOM').to.equal(true);

    const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot6);
    const errors = await validator.validate(beside.toString());
    expect(errors, JSON.stringify(errors)).to.equal(null);

    const bom = JSON.parse(beside.toString()) as {
      components: CdxComponent[];
      metadata: { component: { name: string; version: string } };
    };
    expect(bom.metadata.component).to.include({ name: 'startup-lock', version });
    const inSbom = new Map(
      bom.components.map((c) => [`${c.group ? `${c.group}/` : ''}${c.name}@${c.version}`, c]),
    );

    const { stdout } = await run('npm', ['ls', '--omit=dev', '--all', '--json'], {
      cwd: repoRoot,
      maxBuffer: 32 << 20,
    });
    interface Tree {
      version?: string;
      dependencies?: Record<string, Tree>;
    }
    const expected = new Set<string>();
    const walk = (deps: Record<string, Tree> | undefined) => {
      for (const [name, node] of Object.entries(deps ?? {})) {
        // An optional peer that is not installed (ws's bufferutil) is listed without a version: it is
        // not in node_modules, so not in the image either.
        if (node.version === undefined) continue;
        expected.add(`${name}@${node.version}`);
        walk(node.dependencies);
      }
    };
    walk((JSON.parse(stdout) as Tree).dependencies);
    expect(expected.size).to.be.greaterThan(50);
    expect([...inSbom.keys()].sort()).to.deep.equal([...expected].sort());
    const unlicensed = bom.components.filter(
      (c) => !(c.licenses ?? []).some((l) => l.license?.id ?? l.license?.name ?? l.expression),
    );
    expect(unlicensed.map((c) => c.name)).to.deep.equal([]);
  });
});
