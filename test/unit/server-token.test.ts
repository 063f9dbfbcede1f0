// The lease API's bearer token followed through a rotation of its file, on a fake clock: the new
// token works at once, the old one for the grace period only, a broken file keeps the token in use,
// and nothing about the token reaches the log.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { ConfigError } from '../../src/config/load.js';
import { BearerToken, MISMATCH_REREAD_MS, PREVIOUS_GRACE_MS, REFRESH_MS } from '../../src/server/token.js';
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
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the token, in any case of "Bearer" and with spaces around it, and nothing else', async () => {
    const token = await BearerToken.open(file, clock, log());
    expect(await token.accepts('Bearer alpha')).to.equal(true);
    expect(await token.accepts('bearer   alpha ')).to.equal(true);
    for (const bad of [undefined, '', 'alpha', 'Basic alpha', 'Bearer alph', 'Bearer alphaa', 'Bearer '])
      expect(await token.accepts(bad), String(bad)).to.equal(false);
  });

  it('takes a rotated token at once, and the previous one only for the grace period', async () => {
    const token = await BearerToken.open(file, clock, log());
    clock.advance(MISMATCH_REREAD_MS);
    writeFileSync(file, 'bravo\n');
    // The first request with the new token makes the server read the file again.
    expect(await token.accepts(bearer('bravo'))).to.equal(true);
    expect(await token.accepts(bearer('alpha'))).to.equal(true);
    clock.advance(PREVIOUS_GRACE_MS - 1);
    expect(await token.accepts(bearer('alpha'))).to.equal(true);
    clock.advance(1);
    expect(await token.accepts(bearer('alpha'))).to.equal(false);
    expect(await token.accepts(bearer('bravo'))).to.equal(true);
    const changed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(changed.map((l) => l.msg)).to.deep.equal(['token file changed: new token in use']);
    expect(lines.join('')).to.not.match(/alpha|bravo/);
  });

  it('reads the file again at most once a second for tokens that do not match', async () => {
    const token = await BearerToken.open(file, clock, log());
    writeFileSync(file, 'bravo\n');
    // Within a second of the last read a wrong token is refused without touching the file.
    expect(await token.accepts(bearer('bravo'))).to.equal(false);
    clock.advance(MISMATCH_REREAD_MS);
    expect(await token.accepts(bearer('bravo'))).to.equal(true);
  });

  it('stops a leaked token that is still being used once the file changes, within the refresh period', async () => {
    const token = await BearerToken.open(file, clock, log());
    writeFileSync(file, 'bravo\n');
    // Only the old token is presented: the background refresh notices the change.
    clock.advance(REFRESH_MS);
    expect(await token.accepts(bearer('alpha'))).to.equal(true);
    // The refresh runs in the background; its log line says it has read the file.
    for (let i = 0; i < 200 && !lines.some((l) => l.includes('token file changed')); i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(lines.join('')).to.include('token file changed');
    clock.advance(PREVIOUS_GRACE_MS);
    expect(await token.accepts(bearer('alpha'))).to.equal(false);
    expect(await token.accepts(bearer('bravo'))).to.equal(true);
  });

  it('keeps the token in use when the file goes missing or empty, with one warning per problem', async () => {
    const token = await BearerToken.open(file, clock, log());
    rmSync(file);
    for (let i = 0; i < 3; i++) {
      clock.advance(MISMATCH_REREAD_MS);
      expect(await token.accepts(bearer('wrong'))).to.equal(false);
      expect(await token.accepts(bearer('alpha'))).to.equal(true);
    }
    writeFileSync(file, '\n');
    clock.advance(MISMATCH_REREAD_MS);
    expect(await token.accepts(bearer('wrong'))).to.equal(false);
    expect(await token.accepts(bearer('alpha'))).to.equal(true);
    const warnings = lines.map((l) => JSON.parse(l) as { msg: string; problem: string });
    expect(warnings.map((w) => w.problem)).to.deep.equal([`cannot read ${file}: ENOENT`, `${file} is empty`]);
    expect(warnings.every((w) => w.msg === 'token file unreadable: keeping the token in use')).to.equal(true);
  });

  it('refuses to start on a missing or empty file (bad usage)', async () => {
    const missing = await BearerToken.open(join(dir, 'nope'), clock, log()).catch((e: unknown) => e);
    expect(missing).to.be.instanceOf(ConfigError);
    expect((missing as ConfigError).problems).to.deep.equal([
      `--token-file: cannot read ${join(dir, 'nope')}: ENOENT`,
    ]);
    writeFileSync(file, '  \n');
    const empty = await BearerToken.open(file, clock, log()).catch((e: unknown) => e);
    expect((empty as ConfigError).problems).to.deep.equal([`--token-file: ${file} is empty`]);
  });
});
