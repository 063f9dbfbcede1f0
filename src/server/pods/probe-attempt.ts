// One attempt of a pod's own probe, sent from the node to the pod's IP the way the kubelet sends it:
// httpGet (2xx–3xx passes, redirects not followed, HTTPS without certificate verification), tcpSocket
// (a connection passes) and grpc (grpc.health.v1.Health/Check answers SERVING, over plaintext HTTP/2).
// Each attempt is bounded by its timeout and never throws: it answers pass or fail with a short why.
import { connect as http2Connect, constants as h2 } from 'node:http2';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tcpConnect, isIPv6 } from 'node:net';
import type { ProbeTarget } from './probe-spec.js';

export interface AttemptResult {
  ok: boolean;
  /** `200`, `connected`, `SERVING`, or why it failed. */
  detail: string;
}

export type ProbeRunner = (ip: string, target: ProbeTarget, timeoutMs: number) => Promise<AttemptResult>;

/** Read at most this much of an HTTP probe's answer (the kubelet reads 10 KiB); the rest is dropped. */
const MAX_BODY = 10 * 1024;

export const runProbe: ProbeRunner = (ip, target, timeoutMs) => {
  switch (target.type) {
    case 'httpGet':
      return httpAttempt(ip, target, timeoutMs);
    case 'tcpSocket':
      return tcpAttempt(ip, target.port, timeoutMs);
    case 'grpc':
      return grpcAttempt(ip, target.port, target.service, timeoutMs);
  }
};

/** How a probe reads in logs and Events: `httpGet https://10.0.0.5:8443/ready`. */
export function describeTarget(ip: string, target: ProbeTarget): string {
  const host = isIPv6(ip) ? `[${ip}]` : ip;
  switch (target.type) {
    case 'httpGet':
      return `httpGet ${target.scheme.toLowerCase()}://${host}:${target.port}${target.path}`;
    case 'tcpSocket':
      return `tcpSocket ${host}:${target.port}`;
    case 'grpc':
      return `grpc ${host}:${target.port}${target.service ? ` service "${target.service}"` : ''}`;
  }
}

/** Settles once: the first of answer, error or timeout wins; `cleanup` runs after it. */
function bounded(
  timeoutMs: number,
  start: (done: (r: AttemptResult) => void) => () => void,
): Promise<AttemptResult> {
  return new Promise((resolve) => {
    let settled = false;
    let cleanup: () => void = () => undefined;
    const done = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
      cleanup();
    };
    const timer = setTimeout(() => done({ ok: false, detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
    cleanup = start(done);
    if (settled) cleanup();
  });
}

function httpAttempt(
  ip: string,
  target: Extract<ProbeTarget, { type: 'httpGet' }>,
  timeoutMs: number,
): Promise<AttemptResult> {
  return bounded(timeoutMs, (done) => {
    const headers: Record<string, string> = {
      'user-agent': 'startup-lock-probe',
      accept: '*/*',
      connection: 'close',
    };
    // The pod's own headers win, Host included (it names a virtual host; the connection stays on the pod).
    for (const [name, value] of target.headers) headers[name.toLowerCase()] = value;
    const options = {
      host: ip,
      port: target.port,
      path: target.path,
      method: 'GET',
      headers,
      agent: false as const,
      // The kubelet does not verify the pod's certificate either: it has no way to trust it.
      rejectUnauthorized: false,
    };
    const onResponse = (res: IncomingMessage) => {
      const code = res.statusCode ?? 0;
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_BODY) res.destroy();
      });
      res.on('error', () => undefined);
      done({ ok: code >= 200 && code < 400, detail: String(code) });
    };
    const req =
      target.scheme === 'HTTPS' ? httpsRequest(options, onResponse) : httpRequest(options, onResponse);
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, detail: err.code ?? err.message }));
    req.end();
    return () => req.destroy();
  });
}

function tcpAttempt(ip: string, port: number, timeoutMs: number): Promise<AttemptResult> {
  return bounded(timeoutMs, (done) => {
    const socket = tcpConnect({ host: ip, port });
    socket.once('connect', () => done({ ok: true, detail: 'connected' }));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({ ok: false, detail: err.code ?? err.message }),
    );
    return () => socket.destroy();
  });
}

const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

function grpcAttempt(ip: string, port: number, service: string, timeoutMs: number): Promise<AttemptResult> {
  return bounded(timeoutMs, (done) => {
    const host = isIPv6(ip) ? `[${ip}]` : ip;
    const session = http2Connect(`http://${host}:${port}`);
    session.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, detail: err.code ?? err.message }));
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: '/grpc.health.v1.Health/Check',
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
      'user-agent': 'startup-lock-probe',
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    stream.on('response', (headers) => {
      const code = Number(headers[h2.HTTP2_HEADER_STATUS]);
      if (code !== 200) done({ ok: false, detail: `HTTP/2 status ${String(code)}` });
      // A trailers-only answer carries grpc-status in the headers.
      if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
    });
    stream.on('trailers', (trailers) => {
      status = String(trailers['grpc-status'] ?? status ?? '');
    });
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (chunks.reduce((n, c) => n + c.length, 0) > MAX_BODY) done({ ok: false, detail: 'answer too long' });
    });
    stream.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, detail: err.code ?? err.message }));
    stream.on('end', () => {
      if (status !== undefined && status !== '0') return done({ ok: false, detail: `grpc-status ${status}` });
      const serving = servingStatusOf(Buffer.concat(chunks));
      if (serving === null) return done({ ok: false, detail: 'unreadable health answer' });
      done({ ok: serving === 1, detail: SERVING_STATUS[serving] ?? `status ${serving}` });
    });
    stream.end(healthCheckRequest(service));
    return () => {
      stream.destroy();
      session.destroy();
    };
  });
}

// The two messages of grpc.health.v1, encoded by hand: each has one field, so protobuf's varints and
// length-delimited strings are all it takes (no code generator, no library on the lock's hot path).

/** A gRPC frame (uncompressed, length-prefixed) holding HealthCheckRequest { string service = 1; }. */
export function healthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const message =
    name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const frame = Buffer.alloc(5);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  return Buffer.concat([frame, message]);
}

/** HealthCheckResponse.status (field 1, enum) from a gRPC frame; 0 (UNKNOWN) when absent; null if unreadable. */
export function servingStatusOf(frame: Buffer): number | null {
  if (frame.length < 5 || frame.readUInt8(0) !== 0) return null;
  const length = frame.readUInt32BE(1);
  if (frame.length < 5 + length) return null;
  const message = frame.subarray(5, 5 + length);
  let status = 0;
  let i = 0;
  while (i < message.length) {
    const key = readVarint(message, i);
    if (key === null) return null;
    i = key.next;
    const field = key.value >>> 3;
    const wire = key.value & 7;
    if (wire === 0) {
      const v = readVarint(message, i);
      if (v === null) return null;
      i = v.next;
      if (field === 1) status = v.value;
    } else if (wire === 2) {
      const len = readVarint(message, i);
      if (len === null) return null;
      i = len.next + len.value;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else return null;
  }
  return i === message.length ? status : null;
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

function readVarint(buf: Buffer, start: number): { value: number; next: number } | null {
  let value = 0;
  let shift = 0;
  for (let i = start; i < buf.length && shift < 35; i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
    shift += 7;
  }
  return null;
}
