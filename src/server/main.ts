// `startup-lock server`: parse the config, start the lock, drain on SIGTERM/SIGINT, exit 0 (1 when
// the final save of the state file failed).
import { loadConfig } from '../config/load.js';
import { serverCommand } from '../config/server.js';
import { createLogger } from '../log.js';
import { startServer } from './server.js';

export async function main(argv: string[]): Promise<number> {
  const { config } = loadConfig(serverCommand, argv);
  const log = createLogger('server', config.logLevel);
  const server = await startServer(config, log);
  let received: NodeJS.Signals | null = null;
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    // Listeners stay on for the whole drain: a second SIGTERM (kubelet and a preStop script, an
    // impatient operator) would otherwise kill the process mid-save with Node's default action.
    // The drain is bounded by --shutdown-timeout; SIGKILL remains the way to stop at once.
    const onSignal = (sig: NodeJS.Signals) => {
      if (received === null) {
        received = sig;
        resolve(sig);
      } else {
        log.warn({ signal: sig }, 'signal received while draining: ignored, the drain goes on');
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  log.info({ signal }, 'signal received');
  await server.shutdown();
  return 0;
}
