// The bearer token through a rotation, with the real server and client processes: a Secret-style
// swap is taken at once (no 401 window), a token file no client could send stops the server at start,
// and a client whose token is refused retries until its own copy of the Secret is rotated too.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { startProcess, startServer, stopAll } from '../support/processes.js';

/** A Secret volume as the kubelet lays it out: token -> ..data/token, ..data -> a versioned dir. */
class SecretDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'sl-secret-'));
  readonly file = join(this.dir, 'token');
  private version = 0;

  constructor(token: string) {
    this.write(token);
    symlinkSync(join('..data', 'token'), this.file);
  }

  /** Writes a new version and swaps ..data to it in one rename, as a rotation does. */
  write(token: string): void {
    const v = `..v${++this.version}`;
    mkdirSync(join(this.dir, v));
    writeFileSync(join(this.dir, v, 'token'), `${token}\n`);
    symlinkSync(v, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('server: token rotation (real processes)', function () {
  this.timeout(30_000);
  const secrets: SecretDir[] = [];
  afterEach(async () => {
    await stopAll();
    for (const s of secrets.splice(0)) s.remove();
  });
  const secret = (token: string) => {
    const s = new SecretDir(token);
    secrets.push(s);
    return s;
  };

  it('accepts a rotated token on the very first request after the swap, and the old one meanwhile', async () => {
    const sec = secret('first-token');
    const s = await startServer(['--token-file', sec.file, '--locks', '50']);
    const post = (holder: string, token: string) =>
      fetch(`${s.url}/v1/leases?holder=${holder}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await post('ns/a', 'first-token')).status).to.equal(200);
    for (let round = 2; round <= 4; round++) {
      sec.write(`token-${round}`);
      // No waiting: the request that brings the new token makes the server look at the file.
      expect((await post(`ns/new-${round}`, `token-${round}`)).status, `round ${round}`).to.equal(200);
    }
    // The one just before the current is in its grace; older ones are not.
    expect((await post('ns/prev', 'token-3')).status).to.equal(200);
    expect((await post('ns/old', 'first-token')).status).to.equal(401);
    expect(s.output()).not.to.match(/first-token|token-[234]/);
  });

  it('refuses at start a token file with a newline inside or control characters (exit 2, one line)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-token-'));
    try {
      for (const [name, content] of [
        ['split', 's3cret\nX-Injected: 1\n'],
        ['bell', 'abc\u0007def\n'],
      ] as const) {
        writeFileSync(join(dir, name), content);
        const p = startProcess(['server', '--port', '0', '--token-file', join(dir, name)]);
        expect((await p.exited).code, name).to.equal(2);
        expect(p.output().trim()).to.equal(
          `startup-lock server: --token-file: ${join(dir, name)} holds characters a header cannot carry (a newline inside, control characters or non-ASCII)`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('acquire retries a refused token and is granted once its own copy of the Secret is rotated', async () => {
    const server = secret('new-token');
    const client = secret('old-token');
    const s = await startServer(['--token-file', server.file]);
    const p = startProcess(
      [
        'acquire',
        '--host',
        '127.0.0.1',
        '--port',
        String(s.port),
        '--holder',
        'ns/late',
        '--token-file',
        client.file,
      ],
      { HOST_IP: '', POD_NAME: '', POD_NAMESPACE: '', POD_UID: '' },
    );
    await p.waitForLog(
      (l) => l.msg === 'the lock server refused the token, retrying (a rotation may be under way)',
    );
    client.write('new-token');
    expect((await p.exited).code).to.equal(0);
    expect(p.logs().map((l) => l.msg)).to.include.members([
      'token file changed: retrying with the new token',
      'lock acquired',
    ]);
  });
});
