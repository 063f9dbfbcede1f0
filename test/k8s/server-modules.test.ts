// The lock server runs on every node, so what it loads is paid a thousand times over. With every node
// feature on (release-on-ready with its own probing, Events, an HTTP check, metrics scraped) it talks to
// the API through the lean client and must never load @kubernetes/client-node (~75 MB of RSS on Node 24).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { FakeKubeApi } from '../support/fake-kube-api.js';
import { moduleHook } from '../support/module-hook.js';
import { appPod, containersStatus } from '../support/kube-pods.js';
import { BIN } from '../support/processes.js';

const NODE = 'node-1';
const NS = 'team';

describe('the lock server with every node feature on (fake API)', function () {
  this.timeout(120_000);
  let api: FakeKubeApi;
  let app: Server;
  let dir: string;

  before(async () => {
    api = await FakeKubeApi.start();
    dir = mkdtempSync(join(tmpdir(), 'startup-lock-server-modules-'));
    // One app on 127.0.0.1, both the holder pod's readiness endpoint and the server's HTTP check.
    app = createServer((_req, res) => res.writeHead(200).end('ok'));
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
  });

  after(async () => {
    app.closeAllConnections();
    app.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("loads no @kubernetes/client-node, on this Node and the image's", async () => {
    const imageNode = execFileSync(
      'bash',
      [fileURLToPath(new URL('../../scripts/image-node.sh', import.meta.url))],
      { encoding: 'utf8', timeout: 300_000 },
    ).trim();
    const { port } = app.address() as AddressInfo;
    const kubeconfig = await api.writeKubeconfig();
    const { hook, read } = moduleHook(dir);
    const nodes = [imageNode, process.execPath];
    let checked = 0;
    for (const [i, node] of nodes.entries()) {
      const holder = `${NS}/app-${i}`;
      api.create(
        'pods',
        appPod(NS, `app-${i}`, NODE, [
          { name: 'app', image: 'app:1', readinessProbe: { httpGet: { path: '/', port } } },
        ]),
      );
      const child = spawn(
        node,
        [
          '--require',
          hook,
          BIN,
          'server',
          '--host',
          '127.0.0.1',
          '--port',
          '0',
          '--release-on-ready',
          '--ready-probe-interval',
          '100ms',
          '--events',
          '--node-name',
          NODE,
          '--kubeconfig',
          kubeconfig,
          '--check',
          `http://127.0.0.1:${port}/`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let log = '';
      child.stdout.on('data', (c: Buffer) => (log += c.toString()));
      try {
        const url = await new Promise<string>((resolve, reject) => {
          const seen = () => {
            const m = /"port":(\d+)[^\n]*"msg":"startup-lock server ready"/.exec(log);
            if (m) resolve(`http://127.0.0.1:${m[1]}`);
          };
          child.stdout.on('data', seen);
          child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
        });
        await api.waitForWatches('pods');
        // Every feature used once: a grant (Event), the pod's own probe releases it (Event), a scrape.
        let status = 0;
        for (let tries = 0; status !== 200 && tries < 100; tries++) {
          const res = await fetch(`${url}/v1/leases?holder=${holder}&duration=60&wait=5`, { method: 'POST' });
          status = res.status;
          await res.arrayBuffer();
          if (status !== 200) await new Promise((r) => setTimeout(r, 100)); // the check's first pass
        }
        expect(status, log).to.equal(200);
        api.patch('pods', NS, `app-${i}`, containersStatus([{ name: 'app' }]));
        await api.waitFor(
          'events',
          (e) =>
            e.reason === 'StartupLockReleased' && (e.involvedObject as { name: string }).name === `app-${i}`,
        );
        expect(await (await fetch(`${url}/metrics`)).text()).to.include('startup_lock_lease_releases_total');
      } finally {
        child.kill('SIGTERM');
        if (child.exitCode === null) await once(child, 'exit');
      }
      const { files } = read();
      if (node === imageNode) expect(files, 'the image’s Node has module hooks').to.not.equal(null);
      if (files === null) continue;
      checked++;
      expect(
        files.filter((f) => f.includes('/node_modules/@kubernetes/')),
        node,
      ).to.deep.equal([]);
      // The hook saw the server's own Kubernetes client load: it is watching the right process.
      expect(
        files.some((f) => f.endsWith('/dist/kube/client.js')),
        node,
      ).to.equal(true);
    }
    expect(checked).to.be.at.least(1);
  });
});
