// The client's logger: the same JSON lines as the server's pino logs (level, time, component, fields,
// msg) in a few lines of code, because the init container's start-up time is paid on every pod start
// and pino's import alone costs more than the rest of the client.

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
type Fields = Record<string, unknown>;

export interface ClientLogger {
  error(fields: Fields, msg: string): void;
  warn(fields: Fields, msg: string): void;
  info(fields: Fields, msg: string): void;
  debug(fields: Fields, msg: string): void;
}

const RANK: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: 99,
};

export function createClientLogger(
  component: string,
  level: string,
  write: (line: string) => void = (line) => void process.stdout.write(line),
): ClientLogger {
  const threshold = RANK[level as LogLevel] ?? RANK.info;
  const emit = (label: LogLevel) => (fields: Fields, msg: string) => {
    if (RANK[label] < threshold) return;
    write(`${JSON.stringify({ level: label, time: new Date().toISOString(), component, ...fields, msg })}\n`);
  };
  return { error: emit('error'), warn: emit('warn'), info: emit('info'), debug: emit('debug') };
}
