// tcp://host:port checks: the dependency is up when a TCP connection is accepted; the socket is closed
// at once. IPv6 literals come bracketed in the URL (tcp://[::1]:5432) and are unbracketed here.
import { connect } from 'node:net';
import { down, reasonOf, UP, type ProbeResult } from './probe.js';

export interface TcpTarget {
  host: string;
  port: number;
}

/** host and port of a tcp:// URL (already validated by the config); throws on anything else. */
export function parseTcpTarget(target: string): TcpTarget {
  const url = new URL(target);
  const port = Number(url.port);
  if (url.protocol !== 'tcp:' || !url.hostname || !Number.isInteger(port) || port <= 0) {
    throw new TypeError(`not a tcp://host:port URL: ${target}`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port };
}

export function probeTcp(target: string, signal: AbortSignal): Promise<ProbeResult> {
  const { host, port } = parseTcpTarget(target);
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(down(abortReason(signal)));
    const socket = connect({ host, port });
    const finish = (result: ProbeResult) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = () => finish(down(abortReason(signal)));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish(UP));
    socket.once('error', (err) => finish(down(reasonOf(err))));
  });
}

export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error && reason.name !== 'AbortError' ? reason.message : 'aborted';
}
