// argv → command. Each command lives in its own module and is imported only when chosen, so the
// init-container client never loads the server's dependencies.
import { runCommand, type CommandMain } from './command.js';

const commands: Record<string, { summary: string; load: () => Promise<CommandMain> }> = {
  server: {
    summary: 'node-local lock service (DaemonSet, host network)',
    load: async () => (await import('./server/main.js')).main,
  },
  acquire: {
    summary: 'init-container client: wait for a lease on this node, then exit 0',
    load: async () => (await import('./client/main.js')).main,
  },
  health: {
    summary: "readiness of this node's DaemonSet pods, as an HTTP endpoint",
    load: async () => (await import('./health/main.js')).main,
  },
  run: {
    summary: 'hold a cluster-wide lock on a Lease object while a command runs',
    load: async () => (await import('./run/main.js')).main,
  },
  inject: {
    summary: 'mutating admission webhook: adds the acquire init container to opted-in pods',
    load: async () => (await import('./inject/main.js')).main,
  },
};

function usage(): string {
  const lines = ['Usage: startup-lock <command> [options]', '', 'Commands:'];
  for (const [name, { summary }] of Object.entries(commands)) lines.push(`  ${name.padEnd(8)} ${summary}`);
  lines.push('', 'Run `startup-lock <command> --help` for the options of a command.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    process.exitCode = name === undefined ? 2 : 0;
    return;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`${await version()}\n`);
    return;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`startup-lock: unknown command "${name}"\n\n${usage()}\n`);
    process.exitCode = 2;
    return;
  }
  await runCommand(name, command.load, rest);
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
