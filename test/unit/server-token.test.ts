// The lease API's bearer token followed through a rotation of its file, on a fake clock: the new
// token works at once, the old one for the grace period from the change only, a broken file keeps
// the token in use, and nothing about the token reaches the log.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { ConfigError } from '../../src/errors.js';
import { BearerToken, POLL_MS, PREVIOUS_GRACE_MS } from '../../src/server/token.js';
import { FakeClock } from '../support/fake-clock.js';

describe('server: bearer token from --token-file', () => {
  let dir: string;
  let file: string;
  let clock: FakeClock;
  let lines: string[];
  const log = () => pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const bearer = (t: string) => `Bearer ${t}`;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sl-token-unit-'));
    file = join(dir, 'token');
    writeFileSync(file, 'alpha\n');
    clock = new FakeClock();
    lines = [];
  });
  const opened: BearerToken[] = [];
  /** Polled by the fake clock only; the watch is tested on its own. */
  const open = async () => {
    const token = await BearerToken.open(file, clock, log(), { watch: false });
    opened.push(token);
    return token;
  };
  afterEach(() => {
    for (const token of opened.splice(0)) token.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the token, in any case of "Bearer" and with spaces around it, and nothing else', async () => {
    const token = await open();
    expect(await token.accepts('Bearer alpha')).to.equal(true);
    expect(await token.accepts('bearer   alpha ')).to.equal(true);
    for (const bad of [undefined, '', 'alpha', 'Basic alpha', 'Bearer alph', 'Bearer alphaa', 'Bearer '])
      expect(await token.accepts(bad), String(bad)).to.equal(false);
  });

  it('takes a rotated token at once, with no refusal window, on the first request that brings it', async () => {
    const token = await open();
    writeFileSync(file, 'bravo\n');
    // No time has passed and no poll has run: the request with the new token looks at the file.
    expect(token.accepts(bearer('bravo'))).to.equal(true);
    expect(token.accepts(bearer('alpha'))).to.equal(true);
    const changed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(changed.map((l) => l.msg)).to.deep.equal(['token file changed: new token in use']);
    expect(lines.join('')).to.not.match(/alpha|bravo/);
  });

  it('ends the grace of the old token PREVIOUS_GRACE_MS after the file changed, not after it was next read', async () => {
    const token = await open();
    clock.advance(300);
    writeFileSync(file, 'bravo\n');
    // The file's own time on the fake clock: the change happened 300 ms after the server started.
    utimesSync(file, new Date(clock.now()), new Date(clock.now()));
    // Nobody presents a token for a while; the poll notices the change within POLL_MS.
    clock.advance(POLL_MS);
    expect(lines.join('')).to.include('token file changed');
    clock.advance(PREVIOUS_GRACE_MS - POLL_MS - 1);
    expect(token.accepts(bearer('alpha'))).to.equal(true);
    clock.advance(1);
    expect(token.accepts(bearer('alpha'))).to.equal(false);
    expect(token.accepts(bearer('bravo'))).to.equal(true);
  });

  it('stops a leaked old token once the file changes even if only the old token is ever presented', async () => {
    const token = await open();
    for (let i = 0; i < 5; i++) expect(token.accepts(bearer('alpha'))).to.equal(true);
    writeFileSync(file, 'bravo\n');
    clock.advance(PREVIOUS_GRACE_MS + POLL_MS);
    expect(token.accepts(bearer('alpha'))).to.equal(false);
  });

  it('sees a Secret-style rotation (the ..data symlink swapped) through the directory watch', async function () {
    // The kubelet's layout: token -> ..data/token, ..data -> ..v1; a rotation writes ..v2 and swaps ..data.
    mkdirSync(join(dir, '..v1'));
    writeFileSync(join(dir, '..v1', 'token'), 'alpha\n');
    symlinkSync('..v1', join(dir, '..data'));
    rmSync(file);
    symlinkSync(join('..data', 'token'), file);
    const token = await BearerToken.open(file, clock, log());
    try {
      mkdirSync(join(dir, '..v2'));
      writeFileSync(join(dir, '..v2', 'token'), 'bravo\n');
      symlinkSync('..v2', join(dir, '..data-tmp'));
      renameSync(join(dir, '..data-tmp'), join(dir, '..data'));
      // No request and no poll (the fake clock stands still): the watch alone reads the new file.
      for (let i = 0; i < 200 && !lines.some((l) => l.includes('token file changed')); i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(lines.join('')).to.include('token file changed');
      clock.advance(PREVIOUS_GRACE_MS);
      expect(token.accepts(bearer('alpha'))).to.equal(false);
      expect(token.accepts(bearer('bravo'))).to.equal(true);
    } finally {
      token.close();
    }
  });

  it('keeps the token in use when the file goes missing or empty, with one warning per problem', async () => {
    const token = await open();
    rmSync(file);
    for (let i = 0; i < 3; i++) {
      clock.advance(POLL_MS);
      expect(await token.accepts(bearer('wrong'))).to.equal(false);
      expect(await token.accepts(bearer('alpha'))).to.equal(true);
    }
    writeFileSync(file, '\n');
    clock.advance(POLL_MS);
    expect(await token.accepts(bearer('wrong'))).to.equal(false);
    expect(await token.accepts(bearer('alpha'))).to.equal(true);
    const warnings = lines.map((l) => JSON.parse(l) as { msg: string; problem: string });
    expect(warnings.map((w) => w.problem)).to.deep.equal([`cannot read ${file}: ENOENT`, `${file} is empty`]);
    expect(warnings.every((w) => w.msg === 'token file unreadable: keeping the token in use')).to.equal(true);
  });

  it('refuses to start on a token no client could send, and keeps the old one if a rotation brings one', async () => {
    for (const bad of ['two\nlines\n', 'bell\x07\n', 'caf\u00e9\n', 'nul\0byte']) {
      writeFileSync(file, bad);
      const refused = await BearerToken.open(file, clock, log(), { watch: false }).catch((e: unknown) => e);
      expect((refused as ConfigError).problems, JSON.stringify(bad)).to.deep.equal([
        `--token-file: ${file} holds characters a header cannot carry (a newline inside, control characters or non-ASCII)`,
      ]);
    }
    writeFileSync(file, 'alpha\n');
    const token = await open();
    writeFileSync(file, 'bravo\nX-Injected: 1\n');
    clock.advance(POLL_MS);
    expect(token.accepts(bearer('alpha'))).to.equal(true);
    expect(lines.join('')).to.include('token file unreadable: keeping the token in use');
  });

  it('refuses to start on a missing or empty file (bad usage)', async () => {
    const missing = await BearerToken.open(join(dir, 'nope'), clock, log(), { watch: false }).catch(
      (e: unknown) => e,
    );
    expect(missing).to.be.instanceOf(ConfigError);
    expect((missing as ConfigError).problems).to.deep.equal([
      `--token-file: cannot read ${join(dir, 'nope')}: ENOENT`,
    ]);
    writeFileSync(file, '  \n');
    const empty = await BearerToken.open(file, clock, log(), { watch: false }).catch((e: unknown) => e);
    expect((empty as ConfigError).problems).to.deep.equal([`--token-file: ${file} is empty`]);
  });
});
