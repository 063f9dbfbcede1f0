// The acquire command's options and what the client loads: it must start light (no express,
// prom-client, got, pino, yaml, server or check modules anywhere in its import graph).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { acquireCommand } from '../../src/config/acquire.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Every module statically imported from `entry` (relative ones followed, packages listed). */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const code = readFileSync(file, 'utf8');
    for (const m of code.matchAll(
      /^\s*(?:import|export)\s(?!type\b)[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'/gm,
    )) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('acquire options', () => {
  const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(acquireCommand, argv, env).config;
  const problems = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    try {
      load(argv, env);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  };

  it('keeps the original defaults and takes the long-poll ones', () => {
    expect(load([])).to.include({
      host: 'localhost',
      port: 8888,
      duration: 0,
      pause: 1000,
      timeout: 0,
      failOpenAfter: 0,
      wait: 55_000,
      holder: '',
    });
  });

  it('reads the node IP and pod UID from the downward API, and flags over environment', () => {
    expect(load([], { HOST_IP: '10.1.2.3', POD_UID: 'abc-1' })).to.include({
      host: '10.1.2.3',
      uid: 'abc-1',
    });
    expect(load(['--host', '::1'], { HOST_IP: '10.1.2.3', STARTUP_LOCK_PORT: '9000' })).to.include({
      host: '::1',
      port: 9000,
    });
    expect(load(['--duration', '30', '--pause', '500ms', '--fail-open-after', '2m'])).to.include({
      duration: 30_000,
      pause: 500,
      failOpenAfter: 120_000,
    });
  });

  it('names the option on bad usage', () => {
    expect(problems(['--port', '0'])).to.deep.equal([
      '--port: "0" is not allowed: expected a whole number from 1 to 65535',
    ]);
    expect(problems(['--duration', '1500ms'])[0]).to.match(/^--duration: must be whole seconds/);
    expect(problems(['--holder', '../etc'])[0]).to.match(/^--holder: /);
    expect(problems(['--wait', 'soon'])[0]).to.match(/^--wait: "soon" is not allowed/);
    expect(problems(['--nope'])[0]).to.match(/^--nope: unknown option for acquire/);
  });
});

describe('acquire start-up weight', () => {
  it('imports nothing heavy: no express, prom-client, got, pino, yaml, server or checks; convict validates', () => {
    const { files, packages } = importGraph(join(SRC, 'client/main.ts'));
    const heavy = ['express', 'prom-client', 'got', 'pino', 'yaml', '@kubernetes/client-node'];
    expect([...packages].filter((p) => heavy.includes(p))).to.deep.equal([]);
    // convict is the one validation pass for acquire too (bundled into dist/acquire.mjs by the build).
    expect([...packages]).to.include('convict');
    const rel = [...files].map((f) => f.slice(SRC.length + 1));
    expect(
      rel.filter((f) => /^(server|checks|lock|k8s|run)\/|^metrics\.ts$|^log\.ts$/.test(f)),
    ).to.deep.equal([]);
    expect(rel).to.include('client/acquire.ts');
  });
});
