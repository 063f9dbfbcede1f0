// The acquire client's `client=` value: 128 random bits as 32 hex digits, from /dev/urandom (not
// crypto.randomUUID(), whose crypto modules cost every init container ~10 ms of CPU on Node 24).
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { newClientId } from '../../src/client/id.js';
import { clientOf } from '../../src/server/requests.js';

describe('acquire client: client id', () => {
  it('is 32 lower-case hex digits the server accepts', () => {
    const id = newClientId();
    expect(id).to.match(/^[0-9a-f]{32}$/);
    expect(clientOf(id)).to.equal(id);
  });

  it('differs from call to call', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newClientId()));
    expect(ids.size).to.equal(1000);
  });

  it('differs from process to process', () => {
    const script = "import('./src/client/id.ts').then((m) => process.stdout.write(m.newClientId()))";
    const run = () => execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    const [a, b] = [run(), run()];
    expect(a).to.match(/^[0-9a-f]{32}$/);
    expect(b).to.match(/^[0-9a-f]{32}$/);
    expect(a).to.not.equal(b);
  });

  it('falls back to crypto.randomUUID() where the random device cannot be read', () => {
    const id = newClientId('/nonexistent/urandom');
    expect(id).to.match(/^[0-9a-f]{32}$/);
    expect(clientOf(id)).to.equal(id);
  });

  it('falls back on a short read (an empty file stands in for a broken device)', () => {
    const id = newClientId('/dev/null');
    expect(id).to.match(/^[0-9a-f]{32}$/);
  });
});
