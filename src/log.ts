// One JSON object per line on stdout (pino). Fields: holder, lease, check where they apply.
import { pino, type Logger } from 'pino';

export type { Logger };

export { LOG_LEVELS } from './log-levels.js';

/**
 * `stream: 'stderr'` is for commands whose stdout belongs to someone else (`run` passes its child's
 * stdout through untouched); writes are synchronous so nothing is lost when the process exits.
 */
export function createLogger(
  component: string,
  level: string,
  stream: 'stdout' | 'stderr' = 'stdout',
): Logger {
  const options = {
    level,
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return stream === 'stderr' ? pino(options, pino.destination({ dest: 2, sync: true })) : pino(options);
}
