// Runs one command's main and turns what it throws into the exit code and message every command
// shares: --help (0), bad usage (2, one line per problem), an operational failure (1, one line), a bug
// (1, with the stack). Used by dist/cli.js for every command and by the one-file acquire build.
import { HelpRequested } from './config/load.js';
import { OperationalError, ConfigError } from './errors.js';

export type CommandMain = (argv: string[]) => Promise<number>;

export async function runCommand(
  name: string,
  load: () => Promise<CommandMain>,
  argv: string[],
): Promise<void> {
  try {
    const run = await load();
    process.exitCode = await run(argv);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(`${err.text}\n`);
      process.exitCode = 0;
    } else if (err instanceof ConfigError) {
      for (const line of err.problems) process.stderr.write(`startup-lock ${name}: ${line}\n`);
      process.exitCode = 2;
    } else if (err instanceof OperationalError) {
      process.stderr.write(`startup-lock ${name}: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`startup-lock ${name}: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
