// `startup-lock run` settings: kubelock's defaults, client-go's timing rules as clear errors, the
// command after `--`, identity and namespace resolution.
import { expect } from 'chai';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { runCommand } from '../../src/config/run.js';
import { resolveIdentity, resolveNamespace } from '../../src/run/identity.js';

function problems(argv: string[], env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfig(runCommand, argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('startup-lock run settings', () => {
  it("keeps kubelock's timing defaults and takes the command after --", () => {
    const { config, rest } = loadConfig(runCommand, ['--name', 'db', '--', 'migrate', '--all'], {});
    expect(config).to.include({
      name: 'db',
      namespace: '',
      holders: 1,
      once: false,
      waitTimeout: 0,
      leaseDuration: 15_000,
      renewDeadline: 10_000,
      retryPeriod: 2000,
      killAfter: 10_000,
    });
    expect(rest).to.deep.equal(['migrate', '--all']);
  });

  it('accepts kubelock-style single-dash flags and a command without --', () => {
    const { config, rest } = loadConfig(
      runCommand,
      ['-name', 'db', '-lease-duration', '30s', 'ls', '-l'],
      {},
    );
    expect(config.leaseDuration).to.equal(30_000);
    expect(rest).to.deep.equal(['ls', '-l']);
  });

  it('reads the environment: STARTUP_LOCK_* and POD_NAMESPACE', () => {
    const { config } = loadConfig(runCommand, ['--', 'true'], {
      STARTUP_LOCK_NAME: 'db',
      STARTUP_LOCK_HOLDERS: '3',
      POD_NAMESPACE: 'shop',
    });
    expect(config).to.include({ name: 'db', holders: 3, namespace: 'shop' });
  });

  it('needs a valid name', () => {
    expect(problems(['--', 'true'])).to.deep.equal([
      '--name: needed: the name of the lock (the Lease object), e.g. --name db-migrations',
    ]);
    expect(problems(['--name', 'DB_Migrations', '--', 'true'])[0]).to.match(
      /^--name: "DB_Migrations" is not allowed: expected a Kubernetes object name/,
    );
  });

  it("enforces client-go's rules: lease > renew deadline > 1.2 × retry period", () => {
    expect(problems(['--name', 'db', '--lease-duration', '10s', '--', 'true'])).to.deep.equal([
      '--lease-duration: must be greater than --renew-deadline (10s <= 10s), or another holder could take the lock while the command still runs',
    ]);
    expect(problems(['--name', 'db', '--retry-period', '9s', '--', 'true'])).to.deep.equal([
      '--renew-deadline: must be greater than 1.2 × --retry-period (10s <= 10800ms), or a single slow renewal loses the lock',
    ]);
    expect(
      problems([
        '--name',
        'db',
        '--lease-duration',
        '2500ms',
        '--renew-deadline',
        '1s',
        '--retry-period',
        '250ms',
        '--',
        'true',
      ]),
    ).to.deep.equal([
      '--lease-duration: 2500ms is not allowed: expected whole seconds (Lease.spec.leaseDurationSeconds)',
    ]);
  });

  it('refuses --once with several holders, and out-of-range values', () => {
    expect(problems(['--name', 'db', '--once', '--holders', '2', '--', 'true'])).to.deep.equal([
      '--once: runs the command once in the cluster, so it needs --holders 1',
    ]);
    expect(problems(['--name', 'db', '--holders', '0', '--', 'true'])[0]).to.match(
      /^--holders: "0" is not allowed/,
    );
  });

  describe('identity', () => {
    it('is POD_NAME_POD_UID from the downward API, or --id', () => {
      expect(resolveIdentity('', { POD_NAME: 'web-1', POD_UID: 'u-1' })).to.deep.equal({
        identity: 'web-1_u-1',
      });
      expect(resolveIdentity('me', { POD_NAME: 'web-1', POD_UID: 'u-1' })).to.deep.equal({ identity: 'me' });
    });

    it('falls back to something unique per process, with a warning, never a bare hostname', () => {
      const a = resolveIdentity('', {});
      const b = resolveIdentity('', {});
      expect(a.identity).to.not.equal(b.identity);
      expect(a.warning).to.contain('POD_NAME and POD_UID are not set');
      const named = resolveIdentity('', { POD_NAME: 'web-1' });
      expect(named.identity).to.match(/^web-1_[0-9a-f]{8}$/);
      expect(named.warning).to.contain('POD_UID is not set');
    });
  });

  it("picks the namespace: option, kubeconfig context, the pod's own, then default", () => {
    expect(resolveNamespace({ option: 'a', kubeconfig: 'b', serviceAccount: 'c' })).to.equal('a');
    expect(resolveNamespace({ option: '', kubeconfig: 'b', serviceAccount: 'c' })).to.equal('b');
    expect(resolveNamespace({ option: '', serviceAccount: 'c' })).to.equal('c');
    expect(resolveNamespace({ option: '' })).to.equal('default');
  });
});
