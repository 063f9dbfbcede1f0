// Small test utilities every suite needs: a free port, waiting for a condition that announces itself
// nowhere, and the project's rule for a missing prerequisite (CI fails, elsewhere a loud skip).
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';

/**
 * A port nothing listens on, taken from the kernel and let go (for programs that cannot report an
 * ephemeral port of their own). The window before the caller binds it is small, and the kernel does
 * not hand the same ephemeral port out again right away.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const probe = createServer().listen(0, host);
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
