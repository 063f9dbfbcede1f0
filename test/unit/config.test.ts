import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseCheckUrl, parseDuration } from '../../src/config/formats.js';
import { HelpRequested, loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { serverCommand } from '../../src/config/server.js';

function problems(argv: string[], env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfig(serverCommand, argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  describe('durations', () => {
    it('reads plain seconds and units into milliseconds', () => {
      const ms = ['15', '15s', '2m', '500ms', '1h', '0', 15].map((raw) => parseDuration(raw));
      expect(ms.map((r) => (r.ok ? r.value : null))).to.deep.equal([
        15_000, 15_000, 120_000, 500, 3_600_000, 0, 15_000,
      ]);
    });
    it('rejects negative, empty, decimal and unknown units', () => {
      for (const raw of ['-1', '', '5d', 's', '1 0s', 'abc', ' 2m', '1.5', '1.5s', '1e3', 1.5, -1])
        expect(parseDuration(raw).ok, String(raw)).to.equal(false);
    });
  });

  describe('check URLs', () => {
    it('accepts http, https and tcp with a port, IPv6 in brackets', () => {
      for (const raw of [
        'http://a:9999/',
        'https://es.local:9200/health',
        'tcp://db:5432',
        'tcp://[::1]:5432',
      ]) {
        expect(parseCheckUrl(raw).ok, raw).to.equal(true);
      }
    });
    it('rejects other schemes, tcp without a port, and garbage', () => {
      for (const raw of ['ftp://x', 'tcp://db', 'tcp://db:5432/path', 'db:5432', 'http://']) {
        expect(parseCheckUrl(raw).ok, raw).to.equal(false);
      }
    });
  });

  it('keeps the defaults of pod-startup-lock', () => {
    const { config } = loadConfig(serverCommand, [], {});
    expect(config).to.include({
      host: '0.0.0.0',
      port: 8888,
      locks: 1,
      timeout: 10_000,
      failHc: 10_000,
      passHc: 60_000,
    });
    expect(config.check).to.deep.equal([]);
  });

  it('takes the original flags, Go-style single dashes and repeated --check', () => {
    const { config } = loadConfig(
      serverCommand,
      [
        '-port',
        '9000',
        '--locks=2',
        '--check',
        'tcp://a:1',
        '--check',
        'http://b/',
        '--failHc',
        '3',
        '--passHc=2m',
      ],
      {},
    );
    expect(config).to.include({ port: 9000, locks: 2, failHc: 3000, passHc: 120_000 });
    expect(config.check).to.deep.equal(['tcp://a:1', 'http://b/']);
  });

  it('applies flag > env > file > default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-config-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'port: 7000\nlocks: 3\ntimeout: 20s\nmaxQueue: 50\n');
    const { config } = loadConfig(serverCommand, ['--config', file, '--port', '7100'], {
      STARTUP_LOCK_PORT: '7200',
      STARTUP_LOCK_LOCKS: '4',
    });
    expect(config).to.include({ port: 7100, locks: 4, timeout: 20_000, maxQueue: 50 });
  });

  it('reads booleans as --flag, --flag=false and --no-flag', () => {
    expect(loadConfig(serverCommand, ['--no-legacy-api'], {}).config.legacyApi).to.equal(false);
    expect(loadConfig(serverCommand, ['--legacy-api=false'], {}).config.legacyApi).to.equal(false);
    expect(loadConfig(serverCommand, ['--events'], {}).config.events).to.equal(true);
  });

  it('names the option, the value and what is allowed for every problem at once', () => {
    expect(
      problems(['--port', 'abc', '--locks', '0', '--check', 'ftp://x', '--timeout', '-3']),
    ).to.deep.equal([
      '--port: "abc" is not allowed: expected a whole number from 0 to 65535',
      '--locks: "0" is not allowed: expected a whole number from 1 to 1000',
      '--timeout: "-3" is not allowed: expected a duration: whole seconds (15) or a whole number with a unit (500ms, 15s, 2m, 1h) from 1s to 1h',
      '--check: "ftp://x" is not allowed: expected an http://, https:// or tcp://host:port URL',
    ]);
  });

  it('reads the unleased start-up options, with the server pod from the downward API, and rejects bad ones', () => {
    const { config } = loadConfig(
      serverCommand,
      ['--unleased-exclude-namespace', 'kube-system', '--unleased-exclude-namespace', 'batch'],
      { POD_NAME: 'startup-lock-x1', POD_NAMESPACE: 'startup-lock' },
    );
    expect(config.countUnleased).to.equal(true);
    expect(config.unleasedMax).to.equal(120_000);
    expect(config.unleasedDaemonsets).to.equal(true);
    expect(config.unleasedExcludeNamespace).to.deep.equal(['kube-system', 'batch']);
    expect([config.podNamespace, config.podName]).to.deep.equal(['startup-lock', 'startup-lock-x1']);
    expect(problems(['--unleased-max', '0', '--unleased-exclude-label', 'tier'])).to.deep.equal([
      '--unleased-max: "0" is not allowed: expected a duration: whole seconds (15) or a whole number with a unit (500ms, 15s, 2m, 1h) from 1s to 1h',
      '--unleased-exclude-label: "tier" is not allowed: expected label:value',
    ]);
  });

  it('says where a bad value came from', () => {
    expect(problems([], { STARTUP_LOCK_MAX_QUEUE: 'lots' })).to.deep.equal([
      '--max-queue: "lots" (from $STARTUP_LOCK_MAX_QUEUE) is not allowed: expected a whole number from 1 to 100000',
    ]);
  });

  it('refuses a map, a list or null from a config file where one value belongs, and reads its numbers as text would be', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-config-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({ nodeName: { a: 1 }, port: [1], stateFile: null, check: [5, 'tcp://a:1', {}] }),
    );
    expect(problems(['--config', bad])).to.deep.equal([
      `--port: [1] (from ${bad}) is not allowed: expected a whole number from 0 to 65535`,
      `--check: 5 (from ${bad}) is not allowed: expected an http://, https:// or tcp://host:port URL`,
      `--check: {} (from ${bad}) is not allowed: expected an http://, https:// or tcp://host:port URL`,
      `--node-name: {"a":1} (from ${bad}) is not allowed: expected a string`,
      `--state-file: null (from ${bad}) is not allowed: expected a string`,
    ]);
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ queueGrace: 15, maxLoad: 1.5, legacyApi: false, nodeName: 7 }));
    expect(loadConfig(serverCommand, ['--config', good], {}).config).to.include({
      queueGrace: 15_000,
      maxLoad: 1.5,
      legacyApi: false,
      nodeName: '7',
    });
  });

  it('rejects unknown flags, unknown file keys and stray arguments', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-config-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ prot: 1 }));
    expect(problems(['--bogus', '--config', file, 'extra'])).to.deep.equal([
      '--bogus: unknown option for server (see --help)',
      'unexpected argument "extra": server takes only options (see --help)',
      `${file}: unknown option "prot" for server`,
    ]);
  });

  it('rejects constructor and __proto__ as unknown file keys, from JSON and YAML, and as flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-config-'));
    const json = join(dir, 'c.json');
    writeFileSync(json, '{"constructor": 1, "__proto__": {"locks": 5}, "toString": 2}');
    expect(problems(['--config', json])).to.deep.equal([
      `${json}: unknown option "constructor" for server`,
      `${json}: unknown option "__proto__" for server`,
      `${json}: unknown option "toString" for server`,
    ]);
    const yaml = join(dir, 'c.yaml');
    writeFileSync(yaml, 'constructor: 1\nhasOwnProperty: 2\n');
    expect(problems(['--config', yaml])).to.deep.equal([
      `${yaml}: unknown option "constructor" for server`,
      `${yaml}: unknown option "hasOwnProperty" for server`,
    ]);
    expect(problems(['--constructor', '1'])).to.deep.equal([
      '--constructor: unknown option for server (see --help)',
    ]);
  });

  it('refuses a config file over 64 KiB before parsing it, and bounds the lines for many unknown keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-config-'));
    const huge = join(dir, 'huge.yaml');
    writeFileSync(huge, Array.from({ length: 40_000 }, (_, i) => `key${i}: ${i}\n`).join(''));
    expect(problems(['--config', huge])).to.deep.equal([
      `--config: cannot read ${huge}: larger than 64 KiB: not a config file`,
    ]);
    const many = join(dir, 'many.yaml');
    writeFileSync(many, Array.from({ length: 3000 }, (_, i) => `k${i}: 1\n`).join(''));
    const found = problems(['--config', many]);
    expect(found).to.have.length(11);
    expect(found.at(-1)).to.equal(`${many}: 2990 more unknown options`);
    const twice = join(dir, 'twice.yaml');
    writeFileSync(twice, 'locks: 2\nlocks: 3\n');
    expect(problems(['--config', twice])).to.deep.equal([
      `--config: cannot read ${twice}: option "locks" is given twice`,
    ]);
  });

  it('rejects a timeout above max-duration and release-on-ready without a node name', () => {
    expect(problems(['--timeout', '700', '--max-duration', '600'])).to.deep.equal([
      '--timeout: must not exceed --max-duration (700s > 600s)',
    ]);
    expect(problems(['--release-on-ready'])).to.deep.equal([
      '--release-on-ready: needs --node-name (or $NODE_NAME) to watch the pods on this node',
    ]);
  });

  it('prints every option with its default and environment variable for --help', () => {
    try {
      loadConfig(serverCommand, ['--help'], {});
      expect.fail('expected help');
    } catch (err) {
      expect(err).to.be.instanceOf(HelpRequested);
      const text = (err as HelpRequested).text;
      for (const key of Object.keys(serverCommand.schema)) {
        const flag =
          key === 'failHc' || key === 'passHc' ? key : key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
        expect(text).to.include(`--${flag}`);
      }
      expect(text).to.include('default: 8888; env: $STARTUP_LOCK_PORT');
      expect(text).to.include('env: $STARTUP_LOCK_NODE_NAME, $NODE_NAME');
    }
  });
});
