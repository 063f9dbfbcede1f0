// `startup-lock acquire` as one file: `npm run build` bundles this entry with esbuild into
// dist/acquire.mjs, which bin/startup-lock runs for `acquire`. Every pod on a node pays this start-up,
// and loading one file instead of a dozen ES modules saves ~5–10 ms of CPU each (docs/benchmarks.md).
// Behaviour is the same as through dist/cli.js: same main, same exit codes and messages.
import { runCommand } from '../command.js';
import { main } from './main.js';

export function run(argv: string[]): Promise<void> {
  return runCommand('acquire', async () => main, argv);
}
