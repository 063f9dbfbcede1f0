// `startup-lock server`: parse the config, start the lock, drain on SIGTERM/SIGINT, exit 0 (1 when
// the final save of the state file failed).
import { loadConfig } from '../config/load.js';
import { serverCommand } from '../config/server.js';
import { createLogger } from '../log.js';
import { untilStopSignal } from '../signals.js';
import { startServer } from './server.js';

export async function main(argv: string[]): Promise<number> {
  const { config } = loadConfig(serverCommand, argv);
  const log = createLogger('server', config.logLevel);
  const server = await startServer(config, log);
  // Listeners stay on for the whole drain: a second SIGTERM (kubelet and a preStop script, an
  // impatient operator) would otherwise kill the process mid-save with Node's default action.
  // The drain is bounded by --shutdown-timeout; SIGKILL remains the way to stop at once.
  const signal = await untilStopSignal((sig) =>
    log.warn({ signal: sig }, 'signal received while draining: ignored, the drain goes on'),
  );
  log.info({ signal }, 'signal received');
  await server.shutdown();
  return 0;
}
