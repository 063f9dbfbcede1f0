// `docker stop` (SIGTERM to PID 1, which is node itself: the image has no init) drains the server:
// waiting long polls are answered 423 with Retry-After and the container exits 0 within the grace period.
import { expect } from 'chai';
import {
  builtImage,
  containerLogs,
  removeContainer,
  requireDocker,
  stopGracefully,
} from './support/docker.js';
import { requestLease, statusUntil } from './support/http.js';
import { freePort, startServer, type RunningServer } from './support/server.js';

describe('server container shutdown (docker stop)', function () {
  let image: string;
  let server: RunningServer | undefined;

  before(async function () {
    this.timeout(20 * 60_000);
    await requireDocker(this);
    image = (await builtImage()).tag;
  });

  afterEach(async function () {
    this.timeout(30_000);
    await removeContainer(server?.container);
    server = undefined;
  });

  it('answers a waiting long poll with 423 and exits 0 well within the grace period', async function () {
    this.timeout(60_000);
    const graceSeconds = 20;
    const shutdownTimeout = 5;
    server = await startServer({
      image,
      port: await freePort(),
      args: ['--locks', '1', '--shutdown-timeout', `${shutdownTimeout}s`],
    });
    const { baseUrl, container } = server;
    expect((await requestLease(baseUrl, { holder: 'e2e/holder', duration: 60 })).status).to.equal(200);

    const waiting = requestLease(baseUrl, { holder: 'e2e/waiter', duration: 10, wait: 30 });
    await statusUntil(
      baseUrl,
      (s) => s.queue.some((q) => q.holder === 'e2e/waiter' && q.connected),
      'the long poll',
    );

    const [answer, stopped] = await Promise.all([waiting, stopGracefully(container, graceSeconds)]);
    const logs = await containerLogs(container.getId());
    expect(answer.status, logs).to.equal(423);
    expect(answer.body.reason).to.equal('draining');
    expect(answer.headers.get('retry-after')).to.match(/^\d+$/);
    // 137 would mean Docker had to SIGKILL it after the grace period.
    expect(stopped.exitCode, logs).to.equal(0);
    expect(stopped.stopMs).to.be.below((shutdownTimeout + 2) * 1000);
    console.log(`      docker stop → exit 0 in ${stopped.stopMs} ms (grace ${graceSeconds} s)`);
  });
});
