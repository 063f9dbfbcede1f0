// The lock's promise under fire, with real processes: `--locks 2 --state-file`, 20 real `acquire`
// clients, and the server SIGKILLed 20 times (10 right after a client hears "lock acquired", 10 right
// after the server logs a grant, before its save could be done) and restarted on the same file and
// port. Judged from the clients' own answers: no moment with more than 2 holders, nobody waits too long.
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { startProcess, stopAll, type Proc } from '../support/processes.js';

const LOCKS = 2;
const CLIENTS = 20;
const KILLS = 20;
const HOLD_S = 3;
/** Each client's --timeout: 20 clients / 2 slots × 3 s is 30 s of holds, plus every restart. */
const CLIENT_BOUND_S = 120;

type Line = Record<string, unknown>;

async function freePort(): Promise<number> {
  const probe = createTcpServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Resolves on the first line (after the call) that `match` accepts in any of `procs`, or on timeout. */
function nextLine(procs: Proc[], match: (l: Line) => boolean, timeoutMs: number): Promise<boolean> {
  const seen = procs.map((p) => p.logs().filter(match).length);
  return new Promise((resolve) => {
    const check = () => {
      if (procs.some((p, i) => p.logs().filter(match).length > seen[i]!)) done(true);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (found: boolean) => {
      clearTimeout(timer);
      for (const p of procs) p.child.stdout!.off('data', check);
      resolve(found);
    };
    for (const p of procs) p.child.stdout!.on('data', check);
  });
}

describe('faults: a lock server killed over and over (real processes)', function () {
  this.timeout(240_000);
  afterEach(stopAll);

  it(`never has more than ${LOCKS} holders while the server is SIGKILLed ${KILLS} times`, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sl-faults-')), 'state.json');
    const port = await freePort();
    const serverArgs = ['server', '--host', '127.0.0.1', '--port', String(port), '--locks', String(LOCKS)];
    const start = async () => {
      const s = startProcess([...serverArgs, '--state-file', file]);
      await s.waitForLog((l) => l.msg === 'startup-lock server ready', 20_000);
      return s;
    };
    let server = await start();
    const clients = Array.from({ length: CLIENTS }, (_, i) =>
      startProcess(
        [
          'acquire',
          ...['--host', '127.0.0.1', '--port', String(port), '--holder', `ns/pod-${i}`],
          ...['--duration', String(HOLD_S), '--timeout', String(CLIENT_BOUND_S)],
        ],
        { HOST_IP: '', POD_NAME: '', POD_NAMESPACE: '', POD_UID: '' },
      ),
    );
    const acquired = (l: Line) => l.msg === 'lock acquired';
    const pending = () => clients.filter((c) => c.child.exitCode === null && !c.logs().some(acquired));

    const kills = { afterClientGrant: 0, afterServerGrant: 0, unaimed: 0 };
    for (let k = 0; k < KILLS; k++) {
      // Aim at a grant while clients still wait for one; otherwise kill wherever it falls.
      const aimAtClient = k % 2 === 0;
      const aimed =
        pending().length > 0 &&
        (aimAtClient
          ? await nextLine(clients, acquired, 8000)
          : await nextLine([server], (l) => l.msg === 'lease granted', 8000));
      server.child.kill('SIGKILL');
      await server.exited;
      if (!aimed) kills.unaimed++;
      else if (aimAtClient) kills.afterClientGrant++;
      else kills.afterServerGrant++;
      server = await start();
    }
    const exits = await Promise.all(clients.map((c) => c.exited));

    // Each client holds its lease from the server's grant (expiresAt − duration) to expiresAt, and
    // never before it heard of it: judge both the lease's interval and the client's own.
    const holds = clients.flatMap((c, i) => {
      const line = c.logs().find(acquired);
      if (!line) return [];
      const end = Date.parse(String(line.expiresAt));
      return [
        {
          client: i,
          granted: end - HOLD_S * 1000,
          heard: Date.parse(String(line.time)),
          end,
          waited: Number(line.waitedSeconds),
        },
      ];
    });
    const maxConcurrent = (intervals: [number, number][]) => {
      const edges = intervals.flatMap(([a, b]): [number, number][] => [
        [a, 1],
        [b, -1],
      ]);
      edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      let n = 0;
      let max = 0;
      const over: number[] = [];
      for (const [t, d] of edges) {
        n += d;
        if (n > LOCKS) over.push(t);
        max = Math.max(max, n);
      }
      return { max, violations: over.length };
    };
    const byLease = maxConcurrent(holds.map((h) => [h.granted, h.end]));
    const byClient = maxConcurrent(holds.map((h) => [h.heard, h.end]));
    const longestWait = Math.max(...holds.map((h) => h.waited));
    console.log(
      `      kills: ${KILLS} (${kills.afterClientGrant} on a client's "lock acquired", ` +
        `${kills.afterServerGrant} on the server's "lease granted", ${kills.unaimed} unaimed); ` +
        `grants: ${holds.length} of ${CLIENTS}; max concurrent: ${byLease.max} by lease, ${byClient.max} by client; ` +
        `violations: ${byLease.violations + byClient.violations}; longest wait: ${longestWait} s ` +
        `(bound ${CLIENT_BOUND_S} s)`,
    );
    const failed = clients.filter((c, i) => exits[i]!.code !== 0 || !c.logs().some(acquired));
    expect(failed.map((c) => c.output()).join('\n'), 'clients that did not acquire').to.equal('');
    expect(byLease.violations, 'moments with more holders than slots (lease intervals)').to.equal(0);
    expect(byClient.violations, 'moments with more holders than slots (client view)').to.equal(0);
    expect(longestWait).to.be.at.most(CLIENT_BOUND_S);
    expect(kills.afterClientGrant).to.be.at.least(KILLS / 2 - 1);
  });
});
