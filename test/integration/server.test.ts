// The real `startup-lock server` process on 127.0.0.1, spoken to over HTTP as clients would.
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { startProcess, startServer, stopAll, type ServerProc } from '../support/processes.js';

interface LeaseBody {
  id: string;
  holder: string;
  slot: number;
  grantedAt: string;
  expiresAt: string;
}

const post = (s: ServerProc, query: string, init: RequestInit = {}) =>
  fetch(`${s.url}/v1/leases?${query}`, { method: 'POST', ...init });
const status = async (s: ServerProc) =>
  (await (await fetch(`${s.url}/v1/status`)).json()) as {
    holders: { holder: string }[];
    queue: { holder: string; position: number; connected: boolean }[];
    slots: number;
    ready: boolean;
  };

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('server (real process)', function () {
  this.timeout(30_000);
  afterEach(stopAll);

  describe('legacy API, byte-compatible with pod-startup-lock', () => {
    it('answers 200 "Lock acquired" then 423 "Locked" while the slot is held', async () => {
      const s = await startServer();
      const first = await fetch(`${s.url}/`);
      expect([first.status, await first.text()]).to.deep.equal([200, 'Lock acquired']);
      const second = await fetch(`${s.url}/`);
      expect([second.status, await second.text()]).to.deep.equal([423, 'Locked']);
    });

    it('holds the slot for ?duration= seconds, then grants again', async () => {
      const s = await startServer(['--timeout', '60']);
      expect((await fetch(`${s.url}/?duration=1`)).status).to.equal(200);
      expect((await fetch(`${s.url}/`)).status).to.equal(423);
      const started = Date.now();
      await until(async () => ((await fetch(`${s.url}/`)).status === 200 ? true : undefined));
      expect(Date.now() - started).to.be.within(500, 2500);
    });

    it('rejects a duration that is not whole seconds within max-duration with 400 and a reason', async () => {
      const s = await startServer(['--max-duration', '600']);
      for (const d of ['abc', '0', '601', '-5', '1.5']) {
        const res = await fetch(`${s.url}/?duration=${d}`);
        expect(res.status, d).to.equal(400);
        expect(await res.text()).to.match(/^duration must be a whole number of seconds from 1 to 600/);
      }
      // Nothing was taken by the bad requests.
      expect((await fetch(`${s.url}/`)).status).to.equal(200);
    });

    it('tells a legacy poll 423 while lease-API holders wait (strict FIFO)', async () => {
      const s = await startServer();
      const a = (await (await post(s, 'holder=ns/a&duration=1')).json()) as LeaseBody;
      const waiting = post(s, 'holder=ns/b&duration=5&wait=10');
      await until(async () => ((await status(s)).queue.length === 1 ? true : undefined));
      await fetch(`${s.url}/v1/leases/${a.id}`, { method: 'DELETE' });
      expect((await waiting).status).to.equal(200);
      expect((await fetch(`${s.url}/`)).status).to.equal(423);
    });

    it('can be turned off', async () => {
      const s = await startServer(['--no-legacy-api']);
      expect((await fetch(`${s.url}/`)).status).to.equal(404);
    });
  });

  describe('lease API', () => {
    it('grants a lease with its id, holder, slot and times', async () => {
      const s = await startServer(['--timeout', '30']);
      const res = await post(s, 'holder=team-a/web-0');
      expect(res.status).to.equal(200);
      const lease = (await res.json()) as LeaseBody;
      expect(lease).to.include({ holder: 'team-a/web-0', slot: 0 });
      expect(lease.id).to.match(/^[0-9a-f-]{36}$/);
      expect(Date.parse(lease.expiresAt) - Date.parse(lease.grantedAt)).to.equal(30_000);
    });

    it('gives the same holder the same lease back instead of a second slot', async () => {
      const s = await startServer(['--locks', '2']);
      const a = (await (await post(s, 'holder=ns/a')).json()) as LeaseBody;
      const again = (await (await post(s, 'holder=ns/a')).json()) as LeaseBody;
      expect(again.id).to.equal(a.id);
      expect((await status(s)).holders).to.have.length(1);
    });

    it('hands the slot to a waiting long poll the moment the holder releases', async () => {
      const s = await startServer();
      const a = (await (await post(s, 'holder=ns/a&duration=60')).json()) as LeaseBody;
      const waiting = post(s, 'holder=ns/b&duration=60&wait=20');
      await until(async () => ((await status(s)).queue[0]?.connected ? true : undefined));
      const released = Date.now();
      expect((await fetch(`${s.url}/v1/leases/${a.id}`, { method: 'DELETE' })).status).to.equal(204);
      const res = await waiting;
      expect(res.status).to.equal(200);
      expect(((await res.json()) as LeaseBody).holder).to.equal('ns/b');
      expect(Date.now() - released).to.be.below(1000);
    });

    it('answers 423 with position, queue length and Retry-After when the wait runs out, and keeps the place', async () => {
      const s = await startServer(['--queue-grace', '5']);
      await post(s, 'holder=ns/a&duration=60');
      const b = await post(s, 'holder=ns/b&wait=300ms');
      expect(b.status).to.equal(423);
      expect(b.headers.get('retry-after')).to.equal('1');
      expect(await b.json()).to.deep.equal({ position: 1, queueLength: 1, reason: 'timeout' });
      const c = await post(s, 'holder=ns/c&wait=0');
      expect(await c.json()).to.deep.equal({ position: 2, queueLength: 2, reason: 'locked' });
      // b polls again and is still first.
      const b2 = await post(s, 'holder=ns/b&wait=100ms');
      expect(((await b2.json()) as { position: number }).position).to.equal(1);
    });

    it('drops a waiter whose connection closes at once and grants the next one', async () => {
      const s = await startServer();
      const a = (await (await post(s, 'holder=ns/a&duration=60')).json()) as LeaseBody;
      const abort = new AbortController();
      const b = post(s, 'holder=ns/b&wait=20', { signal: abort.signal }).catch(() => 'aborted');
      const c = post(s, 'holder=ns/c&wait=20');
      await until(async () => ((await status(s)).queue.length === 2 ? true : undefined));
      abort.abort();
      expect(await b).to.equal('aborted');
      const after = await until(async () => {
        const q = (await status(s)).queue;
        return q.length === 1 ? q : undefined;
      });
      expect(after.map((w) => w.holder)).to.deep.equal(['ns/c']);
      await fetch(`${s.url}/v1/leases/${a.id}`, { method: 'DELETE' });
      expect(((await (await c).json()) as LeaseBody).holder).to.equal('ns/c');
    });

    it('extends a lease with PUT and reports 404 for unknown or released leases', async () => {
      const s = await startServer();
      const a = (await (await post(s, 'holder=ns/a&duration=5')).json()) as LeaseBody;
      const put = await fetch(`${s.url}/v1/leases/${a.id}?duration=120`, { method: 'PUT' });
      expect(put.status).to.equal(200);
      const extended = (await put.json()) as LeaseBody;
      expect(Date.parse(extended.expiresAt) - Date.now()).to.be.within(110_000, 121_000);
      expect((await fetch(`${s.url}/v1/leases/${a.id}`, { method: 'DELETE' })).status).to.equal(204);
      expect((await fetch(`${s.url}/v1/leases/${a.id}`, { method: 'DELETE' })).status).to.equal(404);
      expect((await fetch(`${s.url}/v1/leases/${a.id}?duration=5`, { method: 'PUT' })).status).to.equal(404);
    });

    it('answers a wait longer than --max-wait at the server limit', async () => {
      const s = await startServer(['--max-wait', '1']);
      await post(s, 'holder=ns/a&duration=60');
      const started = Date.now();
      const res = await post(s, 'holder=ns/b&wait=30');
      expect(res.status).to.equal(423);
      expect(Date.now() - started).to.be.within(900, 5000);
    });

    it('turns away requests beyond max-queue with 429', async () => {
      const s = await startServer(['--max-queue', '2']);
      await post(s, 'holder=ns/a&duration=60');
      await post(s, 'holder=ns/b');
      await post(s, 'holder=ns/c');
      const d = await post(s, 'holder=ns/d');
      expect(d.status).to.equal(429);
      expect(((await d.json()) as { reason: string }).reason).to.equal('queue_full');
    });

    it('rejects bad parameters with 400 and a reason, changing nothing', async () => {
      const s = await startServer(['--max-wait', '30']);
      const cases: [string, RegExp][] = [
        ['duration=5', /holder is required/],
        ['holder=a%20b', /holder must be namespace\/pod/],
        ['holder=ns/a&duration=0', /duration must be a whole number of seconds from 1 to 600/],
        ['holder=ns/a&wait=-1', /wait must be a number of seconds \(0 or more\)/],
        ['holder=ns/a&wait=soon', /wait must be a number of seconds \(0 or more\)/],
        ['holder=ns/a&wait=1.5s', /wait must be a number of seconds \(0 or more\) or a duration/],
        ['holder=ns/a&duration=1500ms', /duration must be a whole number of seconds from 1 to 600/],
        ['holder=ns/a&uid=%24%24', /uid must be a pod UID/],
      ];
      for (const [query, reason] of cases) {
        const res = await post(s, query);
        expect(res.status, query).to.equal(400);
        expect(((await res.json()) as { error: string }).error).to.match(reason);
      }
      const st = await status(s);
      expect([st.holders.length, st.queue.length]).to.deep.equal([0, 0]);
    });

    it('requires the bearer token from --token-file on the lease API but not on the legacy API', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sl-token-'));
      writeFileSync(join(dir, 'token'), 's3cret\n');
      const s = await startServer(['--token-file', join(dir, 'token')]);
      expect((await post(s, 'holder=ns/a')).status).to.equal(401);
      expect((await post(s, 'holder=ns/a', { headers: { authorization: 'Bearer wrong' } })).status).to.equal(
        401,
      );
      expect((await post(s, 'holder=ns/a', { headers: { authorization: 'Bearer s3cret' } })).status).to.equal(
        200,
      );
      expect((await fetch(`${s.url}/v1/status`)).status).to.equal(401);
      expect((await fetch(`${s.url}/`)).status).to.equal(423);
      expect(s.output()).not.to.include('s3cret');
    });

    it('follows a rotated token file (a Secret updated in place) without a restart', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sl-token-'));
      const file = join(dir, 'token');
      writeFileSync(file, 'first-token\n');
      const s = await startServer(['--token-file', file, '--locks', '5']);
      const as = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
      expect((await post(s, 'holder=ns/a', as('first-token'))).status).to.equal(200);
      // Rotated as the kubelet does it: the new file replaces the old one.
      writeFileSync(join(dir, 'next'), 'second-token\n');
      renameSync(join(dir, 'next'), file);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect((await post(s, 'holder=ns/b', as('second-token'))).status).to.equal(200);
      // Pods that read the old Secret keep working for the grace period.
      expect((await post(s, 'holder=ns/c', as('first-token'))).status).to.equal(200);
      expect((await post(s, 'holder=ns/d', as('third-token'))).status).to.equal(401);
      await s.waitForLog((l) => l.msg === 'token file changed: new token in use');
      expect(s.output()).not.to.match(/first-token|second-token/);
    });
  });

  describe('status, health and metrics', () => {
    it('shows holders and the queue in /v1/status without lease ids', async () => {
      const s = await startServer(['--locks', '1']);
      const a = (await (await post(s, 'holder=ns/a&duration=60')).json()) as LeaseBody;
      await post(s, 'holder=ns/b&wait=0');
      const body = await (await fetch(`${s.url}/v1/status`)).text();
      const st = JSON.parse(body) as Record<string, unknown>;
      expect(st).to.include({ ready: true, draining: false, slots: 1, leasesActive: 1 });
      expect(body).not.to.include(a.id);
      expect((st.queue as { holder: string; position: number }[])[0]).to.include({
        holder: 'ns/b',
        position: 1,
      });
      expect((st.holders as { holder: string }[])[0]).to.include({ holder: 'ns/a' });
    });

    it('is live and ready on /healthz and /readyz', async () => {
      const s = await startServer();
      expect((await fetch(`${s.url}/healthz`)).status).to.equal(200);
      expect((await fetch(`${s.url}/readyz`)).status).to.equal(200);
    });

    it('exports the lock metrics with HELP text and counts grants, denials and releases', async () => {
      const s = await startServer();
      const a = (await (await post(s, 'holder=ns/a&duration=60')).json()) as LeaseBody;
      await fetch(`${s.url}/`);
      await fetch(`${s.url}/v1/leases/${a.id}`, { method: 'DELETE' });
      const text = await (await fetch(`${s.url}/metrics`)).text();
      for (const name of [
        'startup_lock_slots',
        'startup_lock_leases_active',
        'startup_lock_queue_length',
        'startup_lock_queue_wait_seconds',
        'startup_lock_lease_held_seconds',
        'startup_lock_lease_grants_total',
        'startup_lock_lease_denials_total',
        'startup_lock_lease_releases_total',
        'startup_lock_check_up',
        'startup_lock_check_duration_seconds',
      ]) {
        expect(text).to.match(new RegExp(`^# HELP ${name} \\S`, 'm'));
      }
      expect(text).to.match(/^startup_lock_lease_grants_total\{api="v1"\} 1$/m);
      expect(text).to.match(/^startup_lock_lease_denials_total\{reason="locked"\} 1$/m);
      expect(text).to.match(/^startup_lock_lease_releases_total\{reason="released"\} 1$/m);
      expect(text).to.match(/^process_resident_memory_bytes /m);
    });

    it('logs one line per state change, not one per request', async () => {
      const s = await startServer();
      await post(s, 'holder=ns/a&duration=60');
      for (let i = 0; i < 20; i++) await fetch(`${s.url}/`);
      await fetch(`${s.url}/v1/status`);
      const messages = s.logs().map((l) => l.msg);
      expect(messages.filter((m) => m === 'lease granted')).to.have.length(1);
      expect(messages.length).to.be.below(5);
      expect(s.logs().find((l) => l.msg === 'lease granted')).to.include({ holder: 'ns/a' });
    });
  });

  describe('capacity', () => {
    it('sets slots from the CPU count with --locks-per-core', async () => {
      const s = await startServer(['--locks-per-core', '1']);
      expect((await status(s)).slots).to.equal(cpus().length);
    });

    it('grants nothing while the load average per core is above --max-load', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sl-load-'));
      const file = join(dir, 'loadavg');
      writeFileSync(file, `${cpus().length * 50} 1.00 1.00 1/100 1234\n`);
      const s = await startServer(['--max-load', '2', '--loadavg-file', file]);
      const res = await post(s, 'holder=ns/a&wait=0');
      expect(res.status).to.equal(423);
      expect(((await res.json()) as { reason: string }).reason).to.equal('load');
      expect((await fetch(`${s.url}/`)).status).to.equal(423);
      // The load drops: the waiting holder is granted on the next sample (every 5 s).
      writeFileSync(file, '0.10 1.00 1.00 1/100 1234\n');
      const granted = await post(s, 'holder=ns/a&wait=8');
      expect(granted.status).to.equal(200);
    });
  });

  describe('lifecycle', () => {
    it('drains on SIGTERM: waiting polls get 423 draining with Retry-After and the process exits 0', async () => {
      const s = await startServer(['--shutdown-timeout', '5']);
      await post(s, 'holder=ns/a&duration=60');
      const waiting = post(s, 'holder=ns/b&wait=30');
      await until(async () => ((await status(s)).queue[0]?.connected ? true : undefined));
      s.child.kill('SIGTERM');
      const res = await waiting;
      expect(res.status).to.equal(423);
      expect(res.headers.get('retry-after')).to.equal('2');
      expect(((await res.json()) as { reason: string }).reason).to.equal('draining');
      const exit = await s.exited;
      expect(exit).to.deep.equal({ code: 0, signal: null });
    });

    it('keeps leases and queue order across a restart with --state-file', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sl-state-'));
      const file = join(dir, 'state.json');
      const s1 = await startServer(['--state-file', file]);
      await post(s1, 'holder=ns/a&duration=120');
      await post(s1, 'holder=ns/b&wait=0');
      await post(s1, 'holder=ns/c&wait=0');
      s1.child.kill('SIGTERM');
      expect((await s1.exited).code).to.equal(0);

      const s2 = await startServer(['--state-file', file]);
      const st = await status(s2);
      expect(st.holders.map((h) => h.holder)).to.deep.equal(['ns/a']);
      expect(st.queue.map((w) => w.holder)).to.deep.equal(['ns/b', 'ns/c']);
      expect((await fetch(`${s2.url}/`)).status).to.equal(423);
      expect(s2.logs().find((l) => l.msg === 'state restored')).to.include({ leases: 1, queued: 2 });
    });

    it('writes the state file atomically as valid JSON after every change', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sl-state-'));
      const file = join(dir, 'state.json');
      const s = await startServer(['--state-file', file]);
      await post(s, 'holder=ns/a&duration=120');
      const saved = await until(async () => {
        try {
          const doc = JSON.parse(readFileSync(file, 'utf8')) as { leases: { holder: string }[] };
          return doc.leases.length === 1 ? doc : undefined;
        } catch {
          return undefined;
        }
      });
      expect(saved.leases[0]!.holder).to.equal('ns/a');
    });

    it('ignores a corrupt state file with a warning and starts empty', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sl-state-'));
      const file = join(dir, 'state.json');
      writeFileSync(file, '{"version":1,"leases":[{"holder":');
      const s = await startServer(['--state-file', file]);
      expect(s.logs().find((l) => l.msg === 'state file corrupt, ignoring it')).to.include({ level: 'warn' });
      expect((await fetch(`${s.url}/`)).status).to.equal(200);
    });

    it('exits 1 with a one-line reason when the port is taken, and 2 for an unreadable token file', async () => {
      const s = await startServer();
      const taken = startProcess(['server', '--host', '127.0.0.1', '--port', String(s.port)]);
      expect((await taken.exited).code).to.equal(1);
      expect(taken.output().trim()).to.equal(
        `startup-lock server: cannot listen on 127.0.0.1:${s.port}: EADDRINUSE`,
      );
      const noToken = startProcess(['server', '--port', '0', '--token-file', '/nonexistent/token']);
      expect((await noToken.exited).code).to.equal(2);
      expect(noToken.output()).to.include('--token-file: cannot read /nonexistent/token: ENOENT');
    });

    it('stops with exit 2 naming the option for a bad flag, before listening', async () => {
      const p = startProcess(['server', '--port', '99999', '--check', 'ftp://nope']);
      const exit = await p.exited;
      expect(exit.code).to.equal(2);
      expect(p.output()).to.include(
        '--port: "99999" is not allowed: expected a whole number from 0 to 65535',
      );
      expect(p.output()).to.include('--check: "ftp://nope" is not allowed');
      expect(p.output()).not.to.include('ready');
    });
  });
});
