// --state-file under faults, on the real process: grants answered only once on disk, an unwritable
// file refused at start and reported while running, absurd entries dropped, stale temp files removed,
// unique legacy holders across restarts, and holder identity that cannot be borrowed.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { once } from 'node:events';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { startProcess, startServer, stopAll, type ServerProc } from '../support/processes.js';

const post = (s: ServerProc, query: string) => fetch(`${s.url}/v1/leases?${query}`, { method: 'POST' });
const stateFile = () => join(mkdtempSync(join(tmpdir(), 'sl-state-')), 'state.json');
const onDisk = (file: string) =>
  JSON.parse(readFileSync(file, 'utf8')) as { leases: { id: string; holder: string }[] };
const CLIENT_A = 'aaaaaaaaaaaaaaaaaaaaaaaa';
const CLIENT_B = 'bbbbbbbbbbbbbbbbbbbbbbbb';

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Make the state file unwritable even for root: rename() onto a non-empty directory fails. */
function blockWrites(file: string): void {
  rmSync(file, { force: true });
  mkdirSync(file);
  writeFileSync(join(file, 'occupied'), '');
}

describe('state file under faults (real process)', function () {
  this.timeout(30_000);
  afterEach(stopAll);

  it('answers a grant only once the state file holds it', async () => {
    const file = stateFile();
    const s = await startServer(['--locks', '3', '--state-file', file]);
    for (const holder of ['ns/a', 'ns/b']) {
      const res = await post(s, `holder=${holder}&duration=60`);
      const lease = (await res.json()) as { id: string };
      expect(onDisk(file).leases.map((l) => l.id)).to.include(lease.id);
    }
    const legacy = await fetch(`${s.url}/?duration=60`);
    expect(legacy.status).to.equal(200);
    expect(onDisk(file).leases).to.have.length(3);
  });

  it('exits 1 with one line when the state file cannot be written at start', async () => {
    const file = stateFile();
    blockWrites(file);
    const p = startProcess(['server', '--host', '127.0.0.1', '--port', '0', '--state-file', file]);
    expect((await p.exited).code).to.equal(1);
    const lines = p.output().trim().split('\n');
    expect(lines.at(-1)).to.match(new RegExp(`^startup-lock server: --state-file: cannot write ${file}: E`));
    expect(p.output()).not.to.include('server ready');
  });

  it('counts failed writes, turns /readyz 503 and refuses the grant it could not save, then recovers', async () => {
    const file = stateFile();
    const s = await startServer(['--state-file', file]);
    blockWrites(file);
    const res = await post(s, 'holder=ns/a&duration=60');
    expect(res.status).to.equal(503);
    expect(res.headers.get('retry-after')).to.equal('1');
    expect(((await res.json()) as { id?: string }).id).to.equal(undefined);
    expect((await fetch(`${s.url}/readyz`)).status).to.equal(503);
    expect(((await (await fetch(`${s.url}/v1/status`)).json()) as { ready: boolean }).ready).to.equal(false);
    expect((await fetch(`${s.url}/`)).status).to.equal(423);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).to.match(/^startup_lock_state_write_failures_total [1-9]/m);
    // The disk comes back: the retry writes, readiness and grants return.
    rmSync(file, { recursive: true });
    await until(async () => ((await fetch(`${s.url}/readyz`)).status === 200 ? true : undefined));
    expect((await post(s, 'holder=ns/a&duration=60')).status).to.equal(200);
  });

  it('exits non-zero when the final save fails', async () => {
    const file = stateFile();
    const s = await startServer(['--state-file', file]);
    blockWrites(file);
    s.child.kill('SIGTERM');
    const exit = await s.exited;
    expect(exit.code).to.equal(1);
    expect(s.output()).to.include('final save of');
  });

  it('drops state entries with absurd times, slots or types with a warning; /v1/status still answers', async () => {
    const file = stateFile();
    const now = Date.now();
    const lease = (over: object) => ({
      id: 'x',
      holder: 'ns/ok',
      uid: null,
      slot: 0,
      api: 'v1',
      grantedAt: now,
      expiresAt: now + 60_000,
      ...over,
    });
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        savedAt: now,
        leases: [
          lease({ id: 'big', holder: 'ns/far', expiresAt: 8.64e15 + 1 }),
          lease({ id: 'neg', holder: 'ns/neg', slot: -1 }),
          lease({ id: 42, holder: 'ns/num' }),
          lease({ id: 'nan', holder: 'ns/nan', grantedAt: 'yesterday' }),
          lease({ id: 'ok', holder: 'ns/ok' }),
        ],
        queue: [
          { holder: 'ns/w', uid: null, since: -8.64e15 - 1 },
          { holder: 7, uid: null, since: now },
          { holder: 'ns/fine', uid: null, since: now },
        ],
      }),
    );
    const s = await startServer(['--locks', '2', '--state-file', file]);
    const res = await fetch(`${s.url}/v1/status`);
    expect(res.status).to.equal(200);
    const st = (await res.json()) as { holders: { holder: string }[]; queue: { holder: string }[] };
    expect(st.holders.map((h) => h.holder)).to.deep.equal(['ns/ok']);
    expect(st.queue.map((w) => w.holder)).to.deep.equal(['ns/fine']);
    expect(s.logs().filter((l) => l.msg === 'state file entry dropped')).to.have.length(6);
  });

  it('restores no more leases than --locks and no more waiters than --max-queue, logging the rest', async () => {
    const file = stateFile();
    const s1 = await startServer(['--locks', '4', '--state-file', file]);
    for (const h of ['a', 'b', 'c', 'd'])
      expect((await post(s1, `holder=ns/${h}&duration=120`)).status).to.equal(200);
    for (const h of ['w1', 'w2', 'w3'])
      expect((await post(s1, `holder=ns/${h}&wait=0`)).status).to.equal(423);
    s1.child.kill('SIGTERM');
    expect((await s1.exited).code).to.equal(0);
    const s2 = await startServer(['--locks', '2', '--max-queue', '1', '--state-file', file]);
    const st = (await (await fetch(`${s2.url}/v1/status`)).json()) as {
      holders: { holder: string }[];
      queue: { holder: string }[];
    };
    expect(st.holders.map((h) => h.holder)).to.deep.equal(['ns/a', 'ns/b']);
    expect(st.queue.map((w) => w.holder)).to.deep.equal(['ns/w1']);
    const notRestored = s2.logs().filter((l) => l.msg === 'state entry not restored');
    expect(notRestored.map((l) => [l.holder, l.why])).to.deep.equal([
      ['ns/c', 'over_capacity'],
      ['ns/d', 'over_capacity'],
      ['ns/w2', 'queue_full'],
      ['ns/w3', 'queue_full'],
    ]);
  });

  it('removes temp files a killed writer left behind', async () => {
    const file = stateFile();
    const dir = join(file, '..');
    writeFileSync(join(dir, '.state.json.999999.tmp'), '{"half":');
    writeFileSync(join(dir, 'unrelated.tmp'), '');
    await startServer(['--state-file', file]);
    expect(readdirSync(dir).sort()).to.deep.equal(['state.json', 'unrelated.tmp']);
  });

  it('never gives a new legacy request the name of a restored legacy lease', async () => {
    const file = stateFile();
    const s1 = await startServer(['--state-file', file]);
    expect((await fetch(`${s1.url}/?duration=300`)).status).to.equal(200);
    expect((await fetch(`${s1.url}/?duration=300`)).status).to.equal(423);
    s1.child.kill('SIGTERM');
    expect((await s1.exited).code).to.equal(0);
    const s2 = await startServer(['--state-file', file]);
    const again = await fetch(`${s2.url}/?duration=300`);
    expect([again.status, await again.text()]).to.deep.equal([423, 'Locked']);
  });

  it("never returns another client's lease or queue place for its holder name", async () => {
    const s = await startServer();
    const mine = await post(s, `holder=ns/a&duration=60&client=${CLIENT_A}`);
    const lease = (await mine.json()) as { id: string };
    for (const client of [`&client=${CLIENT_B}`, '']) {
      const stolen = await post(s, `holder=ns/a&duration=60${client}`);
      expect(stolen.status).to.equal(409);
      expect(await stolen.text()).not.to.include(lease.id);
    }
    // Nor the name of a legacy request's lease.
    expect((await post(s, 'holder=legacy:127.0.0.1%23abcd1234.1')).status).to.equal(400);
    // The same client's retry gets it back.
    const retry = (await (await post(s, `holder=ns/a&client=${CLIENT_A}`)).json()) as { id: string };
    expect(retry.id).to.equal(lease.id);
    // A waiter's place survives someone else's poll under its name that hangs up.
    expect((await post(s, `holder=ns/w&wait=0&client=${CLIENT_A}`)).status).to.equal(423);
    const ctl = new AbortController();
    const thief = fetch(`${s.url}/v1/leases?holder=ns/w&wait=30&client=${CLIENT_B}`, {
      method: 'POST',
      signal: ctl.signal,
    });
    expect((await thief).status).to.equal(409);
    ctl.abort();
    const st = (await (await fetch(`${s.url}/v1/status`)).json()) as { queue: { holder: string }[] };
    expect(st.queue.map((w) => w.holder)).to.deep.equal(['ns/w']);
  });

  it('logs a second SIGTERM while draining and still finishes the final save (exit 0)', async () => {
    const file = stateFile();
    const s = await startServer(['--state-file', file, '--shutdown-timeout', '2']);
    await post(s, 'holder=ns/a&duration=60');
    // A request still arriving keeps the drain open (up to --shutdown-timeout).
    const slow = connect(s.port, '127.0.0.1');
    await once(slow, 'connect');
    slow.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    slow.on('error', () => undefined);
    s.child.kill('SIGTERM');
    await s.waitForLog((l) => l.msg === 'draining');
    s.child.kill('SIGTERM');
    await s.waitForLog((l) => l.msg === 'signal received while draining: ignored, the drain goes on');
    const exit = await s.exited;
    slow.destroy();
    expect(exit).to.deep.equal({ code: 0, signal: null });
    expect(existsSync(file) && onDisk(file).leases.map((l) => l.holder)).to.deep.equal(['ns/a']);
  });
});
