// `startup-lock run` as operators use it: real `bin/startup-lock run` processes racing for Leases on the
// fake kube-apiserver, wrapping shell commands that record what they did in files.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeKubeApi, type JsonObject } from '../support/fake-kube-api.js';
import { isAlive, readLines, startBin, stopBin, waitForLines, type RunProc } from '../support/run-helpers.js';

const DIST = fileURLToPath(new URL('../../dist/run/main.js', import.meta.url));
const NS = 'team';
/**
 * Short timings, valid by client-go's rules: lease 3s > renew deadline 2s > 1.2 × retry 250ms. The
 * deadline leaves room for a CPU-starved test machine: a spurious loss would exit 3 and fail a test.
 */
const FAST = [
  '--lease-duration',
  '3s',
  '--renew-deadline',
  '2s',
  '--retry-period',
  '250ms',
  '--kill-after',
  '500ms',
];

/** Largest number of `start`s not yet matched by an `end`, over the whole file. */
function maxOverlap(lines: string[]): number {
  let open = 0;
  let max = 0;
  for (const line of lines) {
    if (line.startsWith('start')) max = Math.max(max, ++open);
    else if (line.startsWith('end')) open--;
  }
  return max;
}

describe('startup-lock run (cluster lock on Leases, against the fake API)', function () {
  this.timeout(30_000);
  let api: FakeKubeApi;
  let dir: string;
  let kubeconfig: string;
  let procs: RunProc[];

  before(function () {
    if (!existsSync(DIST)) {
      throw new Error(`dist/ is missing (${DIST}): run \`npm run build\` before these tests`);
    }
  });

  beforeEach(async () => {
    api = await FakeKubeApi.start();
    dir = await mkdtemp(join(tmpdir(), 'run-test-'));
    kubeconfig = await api.writeKubeconfig(join(dir, 'kubeconfig'));
    procs = [];
  });

  afterEach(async () => {
    await Promise.all(procs.map((p) => stopBin(p)));
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  function run(args: string[], command: string, env: NodeJS.ProcessEnv = {}): RunProc {
    const p = startBin(
      ['run', '--kubeconfig', kubeconfig, '--namespace', NS, ...FAST, ...args, '--', 'sh', '-c', command],
      { PATH: process.env.PATH, HOME: process.env.HOME, DIR: dir, ...env },
    );
    procs.push(p);
    return p;
  }

  const file = (name: string) => join(dir, name);
  const lease = (name: string) => api.get('leases', NS, name);
  const spec = (obj: JsonObject | undefined) => (obj?.spec ?? {}) as JsonObject;

  it('never lets three racing processes overlap, and each one runs', async () => {
    const out = file('log');
    const cmd = 'echo "start $ID" >> "$DIR/log"; sleep 0.2; echo "end $ID" >> "$DIR/log"';
    const ps = ['a', 'b', 'c'].map((id) =>
      run(['--name', 'migrate', '--wait-timeout', '20s'], cmd, { ID: id }),
    );
    expect(await Promise.all(ps.map((p) => p.exited))).to.deep.equal([0, 0, 0]);
    const lines = await readLines(out);
    expect(lines).to.have.length(6);
    expect(maxOverlap(lines), lines.join('\n')).to.equal(1);
    for (let i = 0; i < 6; i += 2) {
      expect(lines[i]!.replace('start', '')).to.equal(lines[i + 1]!.replace('end', ''));
    }
    expect(spec(lease('migrate')).holderIdentity, 'released on exit').to.equal(undefined);
    expect(
      api.requests.some((r) => r.verb === 'watch' && r.resource === 'leases.coordination.k8s.io'),
      'waiters watch the Lease',
    ).to.equal(true);
  });

  it('hands over at once on release: the waiter is woken by its watch, not its next poll', async () => {
    // Polls every 5s here; the hand-over must come well before that.
    const slow = ['--lease-duration', '10s', '--renew-deadline', '7s', '--retry-period', '5s'];
    const out = file('log');
    const a = run(
      ['--name', 'handover', ...slow],
      'echo a >> "$DIR/log"; while [ ! -e "$DIR/go" ]; do sleep 0.05; done',
    );
    await waitForLines(out, (l) => l.includes('a'));
    const b = run(['--name', 'handover', ...slow], 'echo b >> "$DIR/log"');
    await api.waitForWatches('leases');
    await api.waitForRequest((r) => r.verb === 'get' && r.status === 200);
    await writeFile(file('go'), '');
    expect(await a.exited).to.equal(0);
    const released = Date.now();
    await waitForLines(out, (l) => l.includes('b'));
    expect(Date.now() - released).to.be.lessThan(2500);
    expect(await b.exited).to.equal(0);
  });

  it('exits 127 when the command cannot be started, and releases the lock', async () => {
    const p = startBin(
      [
        'run',
        '--kubeconfig',
        kubeconfig,
        '--namespace',
        NS,
        ...FAST,
        '--name',
        'missing',
        '--',
        '/nonexistent/cmd',
      ],
      { PATH: process.env.PATH },
    );
    procs.push(p);
    expect(await p.exited).to.equal(127);
    expect(p.stderr()).to.contain('could not start');
    expect(spec(lease('missing')).holderIdentity).to.equal(undefined);
  });

  it('--holders 2 lets exactly two overlap, never three', async () => {
    const out = file('log');
    const go = file('go');
    // Each command holds its slot until the test creates the go file.
    const cmd = `echo "start $ID" >> "$DIR/log"; while [ ! -e "$DIR/go" ]; do sleep 0.05; done; echo "end $ID" >> "$DIR/log"`;
    const ps = ['a', 'b', 'c', 'd'].map((id) =>
      run(['--name', 'warm', '--holders', '2', '--wait-timeout', '20s'], cmd, { ID: id }),
    );
    await waitForLines(out, (l) => l.length >= 2);
    // While both slots are held, the other two keep trying: wait for several more rounds of reads.
    const reads = () =>
      api.requests.filter((r) => r.verb === 'get' && r.resource === 'leases.coordination.k8s.io');
    const seen = reads().length;
    await api.waitForRequest(() => reads().length >= seen + 8, 10_000);
    expect(await readLines(out)).to.have.length(2);
    expect(spec(lease('warm-0')).holderIdentity).to.be.a('string');
    expect(spec(lease('warm-1')).holderIdentity).to.be.a('string');
    await writeFile(go, '');
    expect(await Promise.all(ps.map((p) => p.exited))).to.deep.equal([0, 0, 0, 0]);
    const lines = await readLines(out);
    expect(lines).to.have.length(8);
    expect(maxOverlap(lines), lines.join('\n')).to.equal(2);
    expect(lease('warm'), 'N>1 uses NAME-0..NAME-(N-1) only').to.equal(undefined);
  });

  it('--once runs the command once across five processes; the others skip it and exit 0', async () => {
    const cmd = 'echo "ran $ID" >> "$DIR/log"';
    const ps = [0, 1, 2, 3, 4].map((i) =>
      run(['--name', 'schema', '--once', '--wait-timeout', '20s'], cmd, {
        ID: String(i),
        POD_NAME: `web-${i}`,
        POD_UID: `uid-${i}`,
      }),
    );
    expect(await Promise.all(ps.map((p) => p.exited))).to.deep.equal([0, 0, 0, 0, 0]);
    const lines = await readLines(file('log'));
    expect(lines).to.have.length(1);
    const annotations = ((lease('schema')?.metadata as JsonObject).annotations ?? {}) as JsonObject;
    const id = lines[0]!.replace('ran ', '');
    expect(annotations['startup-lock.io/completed-by'], 'identity is POD_NAME_POD_UID').to.equal(
      `web-${id}_uid-${id}`,
    );
    expect(String(annotations['startup-lock.io/completed'])).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // A process started later skips at once.
    const late = run(['--name', 'schema', '--once'], cmd);
    expect(await late.exited).to.equal(0);
    expect(await readLines(file('log'))).to.have.length(1);
    expect(late.stderr()).to.contain('already completed');
  });

  it('--once runs the command again after a failed first run, which leaves no marker', async () => {
    // The first command to run fails; the next one succeeds.
    const cmd =
      'if [ -e "$DIR/failed-once" ]; then echo ok >> "$DIR/log"; else touch "$DIR/failed-once"; echo fail >> "$DIR/log"; exit 1; fi';
    const ps = [0, 1, 2, 3, 4].map(() => run(['--name', 'seed', '--once', '--wait-timeout', '20s'], cmd));
    const codes = await Promise.all(ps.map((p) => p.exited));
    expect([...codes].sort()).to.deep.equal([0, 0, 0, 0, 1]);
    expect(await readLines(file('log'))).to.deep.equal(['fail', 'ok']);
  });

  it('propagates the exit status of the command (7 → 7, SIGKILL → 137) and keeps stdout clean', async () => {
    const seven = run(['--name', 'a'], 'echo hello; exit 7');
    const killed = run(['--name', 'b'], 'kill -9 $$');
    expect(await seven.exited).to.equal(7);
    expect(await killed.exited).to.equal(137);
    expect(seven.stdout(), 'logs go to stderr').to.equal('hello\n');
    expect(seven.stderr()).to.contain('"msg":"the command exited with code 7"');
    expect(killed.stderr()).to.contain('SIGKILL');
  });

  it('forwards SIGTERM to the command’s process group, grandchildren included', async () => {
    const out = file('log');
    const cmd = [
      `trap 'echo child-term >> "$DIR/log"; exit 143' TERM`,
      `sh -c 'trap "echo grandchild-term >> \\"$DIR/log\\"; exit 0" TERM; echo ready >> "$DIR/log"; while :; do sleep 0.05; done' &`,
      'wait; wait',
    ].join('\n');
    const p = run(['--name', 'sig'], cmd);
    await waitForLines(out, (l) => l.includes('ready'));
    p.proc.kill('SIGTERM');
    expect(await p.exited).to.equal(143);
    const lines = await readLines(out);
    expect(lines).to.include('child-term');
    expect(lines).to.include('grandchild-term');
    expect(spec(lease('sig')).holderIdentity, 'released after the command ended').to.equal(undefined);
  });

  /** A command whose child ignores SIGTERM: only SIGKILL (after --kill-after) ends it. */
  const stubborn = [
    'echo $$ > "$DIR/child.pid"',
    `sh -c 'trap "" TERM; echo $$ > "$DIR/grandchild.pid"; while :; do sleep 0.05; done' &`,
    'while [ ! -s "$DIR/grandchild.pid" ]; do sleep 0.02; done',
    'echo ready >> "$DIR/log"',
    'wait',
  ].join('\n');

  async function expectGroupGone(): Promise<void> {
    const child = Number((await readLines(file('child.pid')))[0]);
    const grandchild = Number((await readLines(file('grandchild.pid')))[0]);
    expect(child).to.be.greaterThan(1);
    expect(grandchild).to.be.greaterThan(1);
    expect(await isAlive(child), 'child').to.equal(false);
    expect(await isAlive(grandchild), 'grandchild (ignores SIGTERM, needs SIGKILL)').to.equal(false);
  }

  it('stops the command group and exits 3 when the lease is stolen', async () => {
    const p = run(['--name', 'stolen'], stubborn);
    await waitForLines(file('log'), (l) => l.includes('ready'));
    const held = lease('stolen') as JsonObject;
    api.update('leases', {
      ...held,
      spec: { ...spec(held), holderIdentity: 'thief', renewTime: new Date().toISOString() },
    });
    expect(await p.exited).to.equal(3);
    await expectGroupGone();
    expect(p.stderr()).to.contain('now held by \\"thief\\"');
    expect(spec(lease('stolen')).holderIdentity, 'the thief keeps it').to.equal('thief');
  });

  it('stops the command group and exits 3 when the lease cannot be renewed, SIGKILL by its expiry', async () => {
    // --kill-after is long, but the Lease (3s) runs out sooner: SIGKILL must come by then.
    const p = run(['--name', 'flaky', '--kill-after', '60s'], stubborn);
    await waitForLines(file('log'), (l) => l.includes('ready'));
    const failures = api.fail({ status: 500, verb: 'update', resource: 'leases' });
    const failedAt = Date.now();
    expect(await p.exited).to.equal(3);
    expect(Date.now() - failedAt).to.be.lessThan(8000);
    expect(failures.hits).to.be.greaterThan(1);
    await expectGroupGone();
    expect(p.stderr()).to.contain('could not renew the lease');
  });

  it('stops the command and exits 3 when renewals hang (no answer from the API)', async () => {
    const p = run(['--name', 'hung'], stubborn);
    await waitForLines(file('log'), (l) => l.includes('ready'));
    api.fail({ status: 'hang', verb: 'update', resource: 'leases' });
    expect(await p.exited).to.equal(3);
    await expectGroupGone();
  });

  it('gives up waiting on SIGTERM (exit 143) without running the command', async () => {
    api.create('leases', {
      metadata: { name: 'held', namespace: NS },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 3600, renewTime: new Date().toISOString() },
    });
    const p = run(['--name', 'held'], 'echo ran >> "$DIR/log"');
    await api.waitForWatches('leases');
    p.proc.kill('SIGTERM');
    expect(await p.exited).to.equal(143);
    expect(await readLines(file('log'))).to.deep.equal([]);
  });

  it('takes over a lease whose holder stopped renewing it', async () => {
    api.create('leases', {
      metadata: { name: 'abandoned', namespace: NS },
      spec: {
        holderIdentity: 'dead-pod',
        leaseDurationSeconds: 15,
        renewTime: new Date(Date.now() - 60_000).toISOString(),
        leaseTransitions: 4,
      },
    });
    const p = run(['--name', 'abandoned', '--wait-timeout', '5s', '--id', 'me'], 'echo "ran" >> "$DIR/log"');
    expect(await p.exited).to.equal(0);
    expect(await readLines(file('log'))).to.deep.equal(['ran']);
    expect(spec(lease('abandoned')).leaseTransitions).to.equal(5);
  });

  it('gives up with exit 1 after --wait-timeout while another holder keeps the lease', async () => {
    api.create('leases', {
      metadata: { name: 'busy', namespace: NS },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 3600, renewTime: new Date().toISOString() },
    });
    const p = run(['--name', 'busy', '--wait-timeout', '1s'], 'echo ran >> "$DIR/log"');
    expect(await p.exited).to.equal(1);
    expect(await readLines(file('log'))).to.deep.equal([]);
    expect(p.stderr()).to.contain('--wait-timeout');
  });

  it('fails fast with exit 4 on 403, naming the verb and resource to grant', async () => {
    api.fail({ status: 403, verb: 'create', resource: 'leases' });
    const p = run(['--name', 'nope', '--wait-timeout', '60s'], 'echo ran >> "$DIR/log"');
    expect(await p.exited).to.equal(4);
    const creates = api.requests.filter(
      (r) => r.verb === 'create' && r.resource === 'leases.coordination.k8s.io',
    );
    expect(
      creates.map((r) => r.status),
      'no retry after a 403',
    ).to.deep.equal([403]);
    expect(p.stderr()).to.contain('cannot create leases.coordination.k8s.io in namespace team: forbidden');
    expect(await readLines(file('log'))).to.deep.equal([]);
  });

  it('fails fast with exit 4 when the API rejects the credentials (401)', async () => {
    api.fail({ status: 401 });
    const p = run(['--name', 'who', '--wait-timeout', '60s'], 'echo ran >> "$DIR/log"');
    expect(await p.exited).to.equal(4);
    expect(p.stderr()).to.contain('cannot get leases.coordination.k8s.io in namespace team: unauthorized');
    expect(await readLines(file('log'))).to.deep.equal([]);
  });

  it('retries other API errors until they clear', async () => {
    const failures = api.fail({ status: 500, verb: 'get', resource: 'leases', times: 3 });
    const p = run(['--name', 'retry', '--wait-timeout', '20s'], 'echo ran >> "$DIR/log"');
    expect(await p.exited).to.equal(0);
    expect(failures.hits).to.equal(3);
    expect(await readLines(file('log'))).to.deep.equal(['ran']);
  });

  it('waits through an unreachable API and takes the lock once it is back', async () => {
    await api.goUnreachable();
    const p = run(['--name', 'outage', '--wait-timeout', '30s'], 'echo ran >> "$DIR/log"');
    await p.waitForStderr('Kubernetes API error; retrying');
    expect(p.stderr()).to.contain('ECONNREFUSED');
    await api.goReachable();
    expect(await p.exited).to.equal(0);
    expect(await readLines(file('log'))).to.deep.equal(['ran']);
  });

  it('falls back to polling when it may not watch Leases, with one warning naming the permission', async () => {
    api.fail({ status: 403, verb: 'watch', resource: 'leases' });
    const cmd = 'echo "start $ID" >> "$DIR/log"; sleep 0.2; echo "end $ID" >> "$DIR/log"';
    const ps = ['a', 'b'].map((id) => run(['--name', 'nowatch', '--wait-timeout', '20s'], cmd, { ID: id }));
    expect(await Promise.all(ps.map((p) => p.exited))).to.deep.equal([0, 0]);
    const lines = await readLines(file('log'));
    expect(maxOverlap(lines)).to.equal(1);
    expect(lines).to.have.length(4);
    const warned = ps.filter((p) => p.stderr().includes('cannot watch leases'));
    expect(warned.length, 'the waiter warned').to.be.greaterThan(0);
    for (const p of warned) expect(p.stderr().split('cannot watch leases').length - 1).to.equal(1);
  });

  it('refuses bad settings with exit 2 and one clear line each', async () => {
    const p = startBin(
      [
        'run',
        '--name',
        'x',
        '--kubeconfig',
        kubeconfig,
        '--lease-duration',
        '5s',
        '--renew-deadline',
        '5s',
        '--',
        'true',
      ],
      { PATH: process.env.PATH },
    );
    procs.push(p);
    expect(await p.exited).to.equal(2);
    expect(p.stderr()).to.contain('--lease-duration: must be greater than --renew-deadline (5s <= 5s)');
    const noCommand = startBin(['run', '--name', 'x', '--kubeconfig', kubeconfig], {
      PATH: process.env.PATH,
    });
    procs.push(noCommand);
    expect(await noCommand.exited).to.equal(2);
    expect(noCommand.stderr()).to.contain('no command to run');
    expect(api.requests, 'nothing reached the API').to.deep.equal([]);
  });
});
