// The `startup-lock inject` command line: --help lists every option, bad usage exits 2 naming the
// option, and no problem leaves it listening.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { injectCommand } from '../../src/config/inject.js';
import { flagOf } from '../../src/config/options.js';
import { startProcess, stopAll } from '../support/processes.js';

describe('inject: command line', function () {
  let dir: string;

  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'startup-lock-inject-cli-'));
  });

  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(stopAll);

  it('--help lists every option with its default and environment variable, exit 0', async function () {
    const proc = startProcess(['inject', '--help']);
    expect((await proc.exited).code).to.equal(0);
    for (const [key, spec] of Object.entries(injectCommand.schema)) {
      expect(proc.output()).to.include(`--${flagOf(key, spec)}`);
    }
    expect(proc.output()).to.include('$STARTUP_LOCK_WEBHOOK_NAME');
    expect(proc.output()).to.include('$POD_NAMESPACE');
  });

  it('the top-level usage names the inject command', async function () {
    const proc = startProcess(['--help']);
    await proc.exited;
    expect(proc.output()).to.match(/inject\s+mutating admission webhook/);
  });

  it('exits 2 naming the option for an unknown flag and bad values', async function () {
    const proc = startProcess(
      ['inject', '--namespace', 'x', '--bogus', '--port', 'https', '--renew-before', 'soon'],
      {
        POD_NAMESPACE: '',
      },
    );
    expect((await proc.exited).code).to.equal(2);
    const out = proc.output();
    expect(out).to.include('--bogus: unknown option for inject');
    expect(out).to.include('--port: "https" is not allowed');
    expect(out).to.include('--renew-before: "soon" is not allowed');
  });

  it('exits 2 when the container file has no container', async function () {
    const file = path.join(dir, 'empty.yaml');
    writeFileSync(file, '[]\n');
    const proc = startProcess([
      'inject',
      '--namespace',
      'x',
      '--container-file',
      file,
      '--tls-cert-file',
      'a',
      '--tls-key-file',
      'b',
    ]);
    expect((await proc.exited).code).to.equal(2);
    expect(proc.output()).to.include(`--container-file: ${file}: expected exactly one container, found 0`);
  });
});
