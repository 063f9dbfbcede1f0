// `startup-lock acquire` as the init container runs it: a second container of the same image, hardened,
// on the host network, against a server container.
import { expect } from 'chai';
import type { StartedTestContainer } from 'testcontainers';
import {
  HardenedContainer,
  builtImage,
  containerLogs,
  containerState,
  removeContainer,
  requireDocker,
  stopGracefully,
  waitForExit,
} from './support/docker.js';
import { getStatus, releaseLease, requestLease, statusUntil, type StatusJson } from './support/http.js';
import { freePort, startServer, type RunningServer } from './support/server.js';

describe('acquire container (init-container client, same image)', function () {
  let image: string;
  let server: RunningServer | undefined;
  let baseUrl: string;
  let port: number;
  let client: StartedTestContainer | undefined;
  let blockerId: string | undefined;

  before(async function () {
    this.timeout(20 * 60_000);
    await requireDocker(this);
    image = (await builtImage()).tag;
    port = await freePort();
    server = await startServer({ image, port, args: ['--locks', '1'] });
    baseUrl = server.baseUrl;
  });

  after(async function () {
    this.timeout(30_000);
    await removeContainer(server?.container);
  });

  afterEach(async function () {
    this.timeout(30_000);
    await removeContainer(client);
    client = undefined;
    if (blockerId !== undefined) await releaseLease(baseUrl, blockerId).catch(() => undefined);
    blockerId = undefined;
  });

  /** Holds the only slot so the next client has to queue. */
  async function holdTheSlot(): Promise<void> {
    const blocker = await requestLease(baseUrl, { holder: 'e2e/blocker', duration: 60, wait: 10 });
    expect(blocker.status).to.equal(200);
    blockerId = blocker.body.id;
  }

  function startAcquire(holder: string): Promise<StartedTestContainer> {
    return new HardenedContainer(image)
      .withCommand([
        'acquire',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--holder',
        holder,
        '--duration',
        '5',
      ])
      .start();
  }

  /** Until the client shows up in the queue; a client that exits instead fails with its logs. */
  async function queued(container: StartedTestContainer, holder: string): Promise<StatusJson> {
    try {
      return await statusUntil(
        baseUrl,
        (s) => s.queue.some((q) => q.holder === holder),
        `${holder} to queue`,
        20_000,
      );
    } catch (err) {
      const state = await containerState(container.getId());
      const logs = await containerLogs(container.getId());
      throw new Error(
        `${(err as Error).message}\nclient running: ${state.running}, exit ${state.exitCode}\n${logs}`,
      );
    }
  }

  it('waits in the queue while the slot is held, is granted when it frees, and exits 0', async function () {
    this.timeout(60_000);
    await holdTheSlot();
    client = await startAcquire('e2e/init');
    await queued(client, 'e2e/init');
    expect((await containerState(client.getId())).running, 'still waiting').to.equal(true);

    expect((await releaseLease(baseUrl, blockerId as string)).status).to.equal(204);
    blockerId = undefined;
    const exitCode = await waitForExit(client.getId(), 20_000);
    expect(exitCode, await containerLogs(client.getId())).to.equal(0);
    const status = await getStatus(baseUrl);
    expect(status.holders.map((h) => h.holder)).to.include('e2e/init');
  });

  it('stops promptly on `docker stop` while waiting (node is PID 1: it must handle SIGTERM itself)', async function () {
    this.timeout(60_000);
    await holdTheSlot(); // waits out the previous test's 5 s lease, if still held
    client = await startAcquire('e2e/stopped');
    await queued(client, 'e2e/stopped');
    const graceSeconds = 10;
    const stopped = await stopGracefully(client, graceSeconds);
    // Without a SIGTERM handler PID 1 ignores the signal and Docker kills it after the grace (137);
    // the client's contract is 128 + the signal number.
    expect(stopped.exitCode, await containerLogs(client.getId())).to.equal(143);
    expect(stopped.stopMs).to.be.below(graceSeconds * 1000);
  });
});
