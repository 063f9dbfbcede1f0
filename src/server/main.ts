// `startup-lock server`: parse the config, start the lock, drain on SIGTERM/SIGINT, exit 0.
import { loadConfig } from '../config/load.js';
import { serverCommand } from '../config/server.js';
import { createLogger } from '../log.js';
import { startServer } from './server.js';

export async function main(argv: string[]): Promise<number> {
  const { config } = loadConfig(serverCommand, argv);
  const log = createLogger('server', config.logLevel);
  const server = await startServer(config, log);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'signal received');
  await server.shutdown();
  return 0;
}
