// Holds many connections open to a real `startup-lock server` and prints its RSS: what an idle
// connection costs, that --max-connections bounds it, and that /healthz still answers.
// Usage: npm run build && npx tsx bench/connections.ts [connections=10000] [--max-connections N]
// Two kinds are held, one after the other: sockets that sent half a request (held until the server's
// header timeout), and keep-alive sockets that finished a request (held until the idle keep-alive).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/startup-lock', import.meta.url));
const total = Number(process.argv[2] ?? 10_000);
const maxIdx = process.argv.indexOf('--max-connections');
const extra = maxIdx > 0 ? ['--max-connections', process.argv[maxIdx + 1] ?? ''] : [];

const REQUESTS = {
  'half a request': 'GET /v1/status HTTP/1.1\r\nHost: bench\r\n',
  'idle keep-alive': 'GET /v1/status HTTP/1.1\r\nHost: bench\r\n\r\n',
};

async function round(kind: keyof typeof REQUESTS): Promise<void> {
  const child = spawn(process.execPath, [BIN, 'server', '--host', '127.0.0.1', '--port', '0', ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`server exited:\n${out}`)));
  });
  const rssMiB = () =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
  const base = rssMiB();
  console.error(`${kind}: server on port ${port}, opening ${total} connections`);
  const sockets: Socket[] = [];
  let refused = 0;
  let busy = 0;
  let answered = 0;
  const opened: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.once('data', (d: Buffer) => (String(d).startsWith('HTTP/1.1 503') ? busy++ : answered++));
    opened.push(
      new Promise((resolve) => {
        s.once('connect', () => {
          s.write(REQUESTS[kind]);
          resolve();
        });
        s.once('close', () => {
          refused++;
          resolve();
        });
      }),
    );
    sockets.push(s);
    // Let the server accept as we go, as clients arriving over a second would.
    if (i % 500 === 499) await new Promise((r) => setTimeout(r, 10));
  }
  // Connections beyond the listen backlog wait in SYN retries; do not wait for all of them.
  await Promise.race([Promise.all(opened), new Promise((r) => setTimeout(r, 5000))]);
  await new Promise((r) => setTimeout(r, 1000));
  const peak = rssMiB();
  console.error(`${kind}: opened; reading /healthz and /metrics`);
  // /metrics is not a probe: it may be turned away while the excess holds the reserve; ask again.
  let metrics = '';
  for (let i = 0; i < 5 && metrics === ''; i++) {
    metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then(
      async (r) => (r.ok ? await r.text() : ''),
      () => '',
    );
    if (metrics === '') await new Promise((r) => setTimeout(r, 1000));
  }
  const healthz = await fetch(`http://127.0.0.1:${port}/healthz`).then(
    (r) => String(r.status),
    (e: Error) => `failed (${String((e.cause as { code?: string } | undefined)?.code ?? e.message)})`,
  );
  const gauge = /^startup_lock_connections (\d+)/m.exec(metrics)?.[1] ?? '?';
  console.log(
    `${kind}: ${total} connections tried, ${refused} closed by the server, ` +
      `${busy} answered 503, ${answered} answered; gauge ${gauge}; ` +
      `RSS ${base.toFixed(1)} MiB before, ${peak.toFixed(1)} MiB held (+${(peak - base).toFixed(1)}); /healthz ${healthz}`,
  );
  for (const s of sockets) s.destroy();
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

await round('half a request');
await round('idle keep-alive');
// Sockets still in SYN retries (beyond the listen backlog) would keep the process alive.
process.exit(0);
