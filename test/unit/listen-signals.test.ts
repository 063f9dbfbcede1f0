// The shared process helpers: listening with a one-line error, and exit codes for signals.
import { expect } from 'chai';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OperationalError } from '../../src/errors.js';
import { listen } from '../../src/listen.js';
import { signalExitCode } from '../../src/signals.js';

describe('listen', () => {
  it('resolves with the port it got', async () => {
    const server = createServer();
    try {
      const port = await listen(server, '127.0.0.1', 0);
      expect(port).to.equal((server.address() as AddressInfo).port);
    } finally {
      server.close();
    }
  });

  it('rejects with one line naming the address (and the option, when given) when the port is taken', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const { port } = taken.address() as AddressInfo;
    try {
      const err = await listen(createServer(), '127.0.0.1', port).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(OperationalError);
      expect((err as Error).message).to.equal(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
      const named = await listen(createServer(), '127.0.0.1', port, '--health-port').catch((e: unknown) => e);
      expect((named as Error).message).to.equal(
        `cannot listen on 127.0.0.1:${port} (--health-port): EADDRINUSE`,
      );
    } finally {
      taken.close();
    }
  });
});

describe('signalExitCode', () => {
  it('is 128 + the signal number, as the shell reports it', () => {
    expect(['SIGINT', 'SIGKILL', 'SIGTERM'].map((s) => signalExitCode(s as NodeJS.Signals))).to.deep.equal([
      130, 137, 143,
    ]);
  });
});
