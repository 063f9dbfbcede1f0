// Listening on a port, the same way for every server (lock, health, injector): the port it got, or
// one line naming the address and why (`cannot listen on 0.0.0.0:8888: EADDRINUSE`), never a stack.
import type { AddressInfo, Server } from 'node:net';
import { OperationalError } from './errors.js';

/** `flag` names the option when a command listens on more than one port (`--health-port`). */
export function listen(server: Server, host: string, port: number, flag?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const where = flag === undefined ? `${host}:${port}` : `${host}:${port} (${flag})`;
      reject(new OperationalError(`cannot listen on ${where}: ${err.code ?? err.message}`));
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
