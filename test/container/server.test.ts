// `startup-lock server` in its image, hardened as the chart runs it, used from the host over both APIs.
// (acquire.test.ts runs the client from a second container of the same image.)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { builtImage, removeContainer, requireDocker } from './support/docker.js';
import { getStatus, getText, releaseLease, requestLease, statusUntil } from './support/http.js';
import { freePort, startServer, type RunningServer } from './support/server.js';

const run = promisify(execFile);

describe('server container (read-only root, no capabilities, UID 65532, host network)', function () {
  let image: string;
  let server: RunningServer | undefined;
  let baseUrl: string;
  let port: number;

  before(async function () {
    this.timeout(20 * 60_000);
    await requireDocker(this);
    image = (await builtImage()).tag;
    port = await freePort();
    server = await startServer({ image, port, args: ['--locks', '1', '--timeout', '10s'] });
    baseUrl = server.baseUrl;
    console.log(`      server container start-to-ready: ${server.startToReadyMs} ms`);
  });

  after(async function () {
    this.timeout(30_000);
    await removeContainer(server?.container);
  });

  it('answers /readyz and /healthz with 200', async function () {
    expect((await getText(`${baseUrl}/readyz`)).status).to.equal(200);
    expect((await getText(`${baseUrl}/healthz`)).status).to.equal(200);
  });

  it('runs with the hardening it was given, and serves as UID 65532', async function () {
    const id = (server as RunningServer).container.getId();
    const { stdout } = await run('docker', ['inspect', '--format', '{{json .HostConfig}}', id]);
    const host = JSON.parse(stdout) as { ReadonlyRootfs: boolean; CapDrop: string[]; NetworkMode: string };
    expect(host.ReadonlyRootfs).to.equal(true);
    expect(host.CapDrop).to.deep.equal(['ALL']);
    expect(host.NetworkMode).to.equal('host');
    const top = await run('docker', ['top', id, '-o', 'pid,uid,args']);
    expect(top.stdout).to.match(
      /^\s*\d+\s+65532\s+node --max-semi-space-size=1 \/app\/bin\/startup-lock server/m,
    );
  });

  it('legacy GET / grants the free slot ("Lock acquired"), then answers 423 "Locked"', async function () {
    const first = await getText(`${baseUrl}/?duration=1`);
    expect(first).to.include({ status: 200, body: 'Lock acquired' });
    const second = await getText(`${baseUrl}/`);
    expect(second).to.include({ status: 423, body: 'Locked' });
  });

  it('lease API: a long poll is granted when the slot frees, others queue with 423, DELETE releases', async function () {
    this.timeout(20_000);
    // The legacy grant above holds the only slot for 1 s: this long poll waits for its expiry.
    const granted = await requestLease(baseUrl, { holder: 'e2e/first', duration: 30, wait: 10 });
    expect(granted.status).to.equal(200);
    expect(granted.body.holder).to.equal('e2e/first');
    expect(granted.body.slot).to.be.a('number');
    expect(granted.body.id).to.be.a('string').and.not.equal('');

    const refused = await requestLease(baseUrl, { holder: 'e2e/second', wait: 0 });
    expect(refused.status).to.equal(423);
    expect(refused.body).to.include({ reason: 'locked', position: 1 });
    expect(refused.headers.get('retry-after')).to.match(/^\d+$/);

    const status = await getStatus(baseUrl);
    expect(status.slots).to.equal(1);
    expect(status.holders.map((h) => h.holder)).to.deep.equal(['e2e/first']);

    expect((await releaseLease(baseUrl, granted.body.id)).status).to.equal(204);
    expect((await releaseLease(baseUrl, granted.body.id)).status).to.equal(404);
    // The queued holder kept its place: the freed slot is its own.
    const next = await requestLease(baseUrl, { holder: 'e2e/second', duration: 30, wait: 5 });
    expect(next.status).to.equal(200);
    expect((await releaseLease(baseUrl, next.body.id)).status).to.equal(204);
    await statusUntil(baseUrl, (s) => s.leasesActive === 0 && s.queue.length === 0, 'an idle lock');
  });

  it('exports the lock metrics', async function () {
    const metrics = await getText(`${baseUrl}/metrics`);
    expect(metrics.status).to.equal(200);
    expect(metrics.body).to.match(/^startup_lock_slots 1$/m);
    expect(metrics.body).to.match(/^startup_lock_lease_grants_total\{api="legacy"\} [1-9]/m);
  });

  it('starts to ready quickly, read-only and unprivileged (median of 5 starts printed)', async function () {
    this.timeout(120_000);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const extra = await startServer({ image, port: await freePort() });
      times.push(extra.startToReadyMs);
      await removeContainer(extra.container);
    }
    times.sort((a, b) => a - b);
    console.log(
      `      start-to-ready over 5 starts: median ${times[2]} ms, min ${times[0]} ms, max ${times[4]} ms`,
    );
    // Generous: a regression to a slow start (blocking I/O, a lazy import of the Kubernetes client) shows.
    expect(times[2]).to.be.below(5000);
  });
});
