// Errors the operator can act on (a port in use, an unreadable file): the CLI prints their message
// alone and exits 1. Anything else is a bug and is printed with its stack.
export class OperationalError extends Error {
  override name = 'OperationalError';
}

/** Bad usage (a flag, a variable, a config file): every problem, one line each; the CLI exits 2. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}
