// Bad input at the real server's edge: every malformed request is a 400 with a one-line reason and
// one JSON log line, never a stack trace; options that cannot work stop the server at start.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { startProcess, startServer, stopAll, type ServerProc } from '../support/processes.js';

/** What the server wrote to stderr (processes.ts merges both streams into output()). */
function stderrOf(s: ServerProc): () => string {
  let err = '';
  s.child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return () => err;
}

describe('server: bad input (real process)', function () {
  this.timeout(30_000);
  afterEach(stopAll);

  it('answers paths that do not decode with 400 and a reason, one JSON log line each, no stack trace', async () => {
    const s = await startServer();
    const stderr = stderrOf(s);
    const bad: [string, string][] = [
      ['DELETE', '/v1/leases/%ZZ'],
      ['PUT', '/v1/leases/%E0%A4%A?duration=5'],
      ['DELETE', '/v1/leases/%'],
      ['PUT', '/v1/leases/%C0%AF'],
    ];
    for (const [method, path] of bad) {
      const res = await fetch(`${s.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).to.equal(400);
      const body = (await res.json()) as { error: string };
      expect(body.error, path).to.match(/^Failed to decode param/);
      expect(body.error).not.to.match(/\n|\bat /);
    }
    const logged = () => s.logs().filter((l) => l.msg === 'bad request');
    await s.waitForLog(() => logged().length === bad.length);
    expect(logged()[0]).to.include({ level: 'warn', method: 'DELETE', path: '/v1/leases/%ZZ', status: 400 });
    expect(stderr()).to.equal('');
    expect(s.output()).not.to.match(/^\s+at /m);
    // The server is none the worse.
    expect((await fetch(`${s.url}/healthz`)).status).to.equal(200);
  });

  it('refuses a query parameter given twice, on every route, with 400 and changes nothing', async () => {
    const s = await startServer();
    const lease = (await (
      await fetch(`${s.url}/v1/leases?holder=ns/a&duration=10`, { method: 'POST' })
    ).json()) as { id: string; expiresAt: string };
    const cases: [string, string][] = [
      ['PUT', `/v1/leases/${lease.id}?duration=5&duration=6`],
      ['POST', '/v1/leases?holder=ns/b&holder=ns/c'],
      ['POST', '/v1/leases?holder=ns/b&duration=5&duration=6'],
      ['POST', '/v1/leases?holder=ns/b&wait=1&wait=0'],
      ['POST', '/v1/leases?holder=ns/b&uid=a&uid=b'],
    ];
    for (const [method, path] of cases) {
      const res = await fetch(`${s.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).to.equal(400);
      expect(((await res.json()) as { error: string }).error).to.match(/ is given 2 times; give it once$/);
    }
    const legacy = await fetch(`${s.url}/?duration=5&duration=6`);
    expect([legacy.status, await legacy.text()]).to.deep.equal([
      400,
      'duration is given 2 times; give it once\n',
    ]);
    const st = (await (await fetch(`${s.url}/v1/status`)).json()) as {
      holders: { holder: string }[];
      queue: unknown[];
    };
    expect(st.holders.map((h) => h.holder)).to.deep.equal(['ns/a']);
    expect(st.queue).to.deep.equal([]);
  });

  it('stops at start with exit 1 and one line when --max-load cannot read the load average', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-load-'));
    const missing = join(dir, 'loadavg');
    const p = startProcess(['server', '--port', '0', '--max-load', '2', '--loadavg-file', missing]);
    expect((await p.exited).code).to.equal(1);
    expect(p.output().trim()).to.equal(
      `startup-lock server: --max-load: cannot read the load average: ${missing}: ENOENT`,
    );
    // Without --max-load the file is never read.
    const off = await startServer(['--loadavg-file', missing]);
    expect((await fetch(`${off.url}/`)).status).to.equal(200);
  });
});

describe('runbook: ending a stuck lease (real process)', function () {
  this.timeout(30_000);
  afterEach(stopAll);

  it("releases a lease by the id on the holder's 'lease granted' log line, as docs/runbook.md says", async () => {
    const s = await startServer();
    await fetch(`${s.url}/v1/leases?holder=app/stuck-0&duration=600`, { method: 'POST' });
    // What the runbook's grep finds: the holder's last "lease granted" line, its `lease` field.
    const line = await s.waitForLog((l) => l.msg === 'lease granted' && l.holder === 'app/stuck-0');
    const res = await fetch(`${s.url}/v1/leases/${String(line.lease)}`, { method: 'DELETE' });
    expect(res.status).to.equal(204);
    expect((await fetch(`${s.url}/`)).status).to.equal(200);
  });
});
