// The log levels every command accepts. Kept apart from log.ts so that naming them (the option tables)
// does not load pino: the init-container client logs without it to start fast.
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
