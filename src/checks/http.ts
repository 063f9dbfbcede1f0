// http:// and https:// checks through got: a 2xx answer is up; anything else (3xx included: redirects
// are not followed, so a login redirect cannot pass for healthy) is down. Keep-alive agents reuse one
// connection per dependency between probes; certificates are verified, and --check-ca-file adds a
// private CA to Node's public roots. The response body is drained and discarded, never buffered.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import got, { type Got } from 'got';
import { down, reasonOf, UP, type ProbeResult } from './probe.js';
import { abortReason } from './tcp.js';

export interface HttpProberOptions {
  /** Upper bound on one request, body included (the scheduler aborts earlier on its own timeout). */
  timeoutMs: number;
  /** PEM text of extra CAs to trust besides the public roots. */
  ca?: string;
}

export class HttpProber {
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  private readonly httpsAgent: HttpsAgent;
  private readonly client: Got;

  constructor(options: HttpProberOptions) {
    this.httpsAgent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 1,
      ...(options.ca ? { ca: [...rootCertificates, options.ca] } : {}),
    });
    this.client = got.extend({
      agent: { http: this.httpAgent, https: this.httpsAgent },
      followRedirect: false,
      throwHttpErrors: false,
      decompress: false,
      retry: { limit: 0 },
      timeout: { request: options.timeoutMs },
      headers: { 'user-agent': 'startup-lock-check' },
    });
  }

  probe = (target: string, signal: AbortSignal): Promise<ProbeResult> =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve(down(abortReason(signal)));
      let settled = false;
      const finish = (result: ProbeResult) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const stream = this.client.stream(target, { signal });
      const onAbort = () => finish(down(abortReason(signal)));
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on('response', (res: { statusCode: number; statusMessage?: string }) => {
        const code = res.statusCode;
        finish(
          code >= 200 && code < 300
            ? UP
            : down(`HTTP ${code}${res.statusMessage ? ` ${res.statusMessage}` : ''}`),
        );
        // The verdict is in; drain the body so the keep-alive socket can be reused.
        stream.resume();
      });
      // Errors after the verdict (a body cut short) only cost the socket; they must not go unhandled.
      stream.on('error', (err: Error) => finish(down(reasonOf(err))));
    });

  /** Aborts nothing in flight on its own (the scheduler does); closes every pooled socket. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
