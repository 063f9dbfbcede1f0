// The image as built from the Dockerfile: what it contains and how it is configured.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { Wait } from 'testcontainers';
import {
  HardenedContainer,
  builtImage,
  containerLogs,
  removeContainer,
  repoRoot,
  requireDocker,
  type BuiltImage,
} from './support/docker.js';

const run = promisify(execFile);

interface ImageConfig {
  User: string;
  Entrypoint: string[] | null;
  Cmd: string[] | null;
  Env: string[];
  Labels: Record<string, string> | null;
}

describe('container image', function () {
  let image: BuiltImage;
  let config: ImageConfig;

  before(async function () {
    this.timeout(20 * 60_000);
    await requireDocker(this);
    image = await builtImage();
    const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{json .Config}}', image.tag]);
    config = JSON.parse(stdout) as ImageConfig;
    console.log(
      `      image ${image.tag}: ${(image.sizeBytes / 1e6).toFixed(1)} MB, built in ${(image.buildMs / 1000).toFixed(1)} s`,
    );
  });

  it('runs as the non-root numeric UID 65532', function () {
    expect(config.User).to.equal('65532:65532');
  });

  it('has the startup-lock program as entrypoint and `server` as default command', function () {
    expect(config.Entrypoint).to.deep.equal(['node', '--max-semi-space-size=1', '/app/bin/startup-lock']);
    expect(config.Cmd).to.deep.equal(['server']);
    expect(config.Env).to.include('NODE_ENV=production');
  });

  it('carries the OCI labels (source, version, licence)', function () {
    const labels = config.Labels ?? {};
    expect(labels['org.opencontainers.image.source']).to.match(/^https:\/\//);
    expect(labels['org.opencontainers.image.licenses']).to.equal('MIT');
    expect(labels['org.opencontainers.image.version']).to.equal('0.0.0-e2e');
    expect(labels['org.opencontainers.image.title']).to.equal('startup-lock');
  });

  it('prints its version through the entrypoint, hardened (read-only root, no capabilities)', async function () {
    this.timeout(60_000);
    const container = await new HardenedContainer(image.tag)
      .withCommand(['--version'])
      .withWaitStrategy(Wait.forOneShotStartup())
      .start();
    try {
      const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
        version: string;
      };
      expect((await containerLogs(container.getId())).trim()).to.equal(version);
    } finally {
      await removeContainer(container);
    }
  });

  it('ships production dependencies only, the compiled program, and no sources or tests', async function () {
    this.timeout(60_000);
    // Node is the only program in the runtime image (no shell), so node itself looks around.
    const probe = `
      const fs = require('node:fs');
      const has = (p) => fs.existsSync(p);
      console.log(JSON.stringify({
        express: has('/app/node_modules/express/package.json'),
        typescript: has('/app/node_modules/typescript'),
        mocha: has('/app/node_modules/mocha'),
        testcontainers: has('/app/node_modules/testcontainers'),
        cli: has('/app/dist/cli.js'),
        src: has('/app/src'),
        test: has('/app/test'),
        sbom: has('/app/sbom.cdx.json'),
        uid: process.getuid(),
        node: process.versions.node,
      }));`;
    const container = await new HardenedContainer(image.tag)
      .withEntrypoint(['node', '-e', probe])
      .withWaitStrategy(Wait.forOneShotStartup())
      .start();
    try {
      const seen = JSON.parse((await containerLogs(container.getId())).trim()) as Record<string, unknown>;
      expect(seen).to.include({
        express: true,
        typescript: false,
        mocha: false,
        testcontainers: false,
        cli: true,
        src: false,
        test: false,
        sbom: true,
        uid: 65532,
      });
      // The image runs Node 24 LTS whatever Node the build machine has.
      expect(String(seen.node)).to.match(/^24\./);
    } finally {
      await removeContainer(container);
    }
  });

  it('loads every runtime dependency and every command after node_modules was pruned', async function () {
    this.timeout(60_000);
    // The deps stage deletes .d.ts, .map and .md files: nothing Node loads may be among them.
    const probe = `
      const { dependencies } = require('/app/package.json');
      Promise.all(Object.keys(dependencies).map((name) => import(name).then(() => name)))
        .then((names) => console.log(JSON.stringify(names)), (err) => { console.error(err); process.exit(1); });`;
    const loader = await new HardenedContainer(image.tag)
      .withEntrypoint(['node', '-e', probe])
      .withWaitStrategy(Wait.forOneShotStartup())
      .start();
    try {
      const { dependencies } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
        dependencies: Record<string, string>;
      };
      const loaded = JSON.parse((await containerLogs(loader.getId())).trim()) as string[];
      expect(loaded).to.have.members(Object.keys(dependencies));
    } finally {
      await removeContainer(loader);
    }
    for (const command of ['server', 'acquire', 'health', 'run', 'inject']) {
      const help = await new HardenedContainer(image.tag)
        .withCommand([command, '--help'])
        .withWaitStrategy(Wait.forOneShotStartup())
        .start();
      try {
        expect(await containerLogs(help.getId())).to.match(new RegExp(`startup-lock ${command}`));
      } finally {
        await removeContainer(help);
      }
    }
  });
});
