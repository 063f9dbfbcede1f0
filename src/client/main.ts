// `startup-lock acquire`: the init container. Parse options, wait in line for the node's lock, exit
// 0 (acquired or failed open), 1 (timed out), 2 (bad usage), 128+n on a signal. Imports stay few
// and light (node:net, no express/got/pino): this start-up is paid by every pod on the node.
import type { Clock } from '../clock.js';
import { acquireCommand, type AcquireConfig } from '../config/acquire.js';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { readTokenFile } from '../config/token-file.js';
import { acquire, type Outcome } from './acquire.js';
import { send } from './http.js';
import { newClientId } from './id.js';
import { createClientLogger, type ClientLogger } from './log.js';

/** Real timers that keep the process alive: between polls the client has nothing else pending. */
const liveClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(t) };
  },
};

const SIGNAL_EXIT: Record<string, number> = { SIGTERM: 143, SIGINT: 130 };

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { config } = loadConfig(acquireCommand, argv, env);
  const log = createClientLogger('acquire', config.logLevel);
  const token = readToken(config);
  const holder = holderOf(config, env, log);

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(signal);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let outcome: Outcome;
  try {
    outcome = await acquire(
      {
        host: config.host.replace(/^\[(.*)\]$/, '$1'),
        port: config.port,
        holder,
        uid: config.uid,
        durationMs: config.duration,
        pauseMs: config.pause,
        timeoutMs: config.timeout,
        failOpenAfterMs: config.failOpenAfter,
        waitMs: config.wait,
        token,
        client: newClientId(),
        rereadToken: () => {
          try {
            return readToken(config);
          } catch {
            return null;
          }
        },
      },
      { clock: liveClock, send, log, signal: stop.signal },
    );
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  switch (outcome.kind) {
    case 'acquired':
    case 'failed-open':
      return 0;
    case 'timed-out':
      return 1;
    case 'bad-usage':
      throw new ConfigError([outcome.message]);
    case 'stopped':
      return SIGNAL_EXIT[String(outcome.reason)] ?? 1;
  }
}

function readToken(config: AcquireConfig): string | null {
  if (config.tokenFile === '') return null;
  const token = readTokenFile(config.tokenFile);
  if (typeof token !== 'string') throw new ConfigError([`--token-file: ${token.problem}`]);
  return token;
}

/**
 * namespace/pod from the downward API. Without $POD_NAME the host name stands in, made unique: with
 * hostNetwork every pod on the node shares it, and two waiters under one name would share one lease.
 */
function holderOf(config: AcquireConfig, env: NodeJS.ProcessEnv, log: ClientLogger): string {
  if (config.holder !== '') return config.holder;
  const namespace = env.POD_NAMESPACE || 'default';
  if (env.POD_NAME) return `${namespace}/${env.POD_NAME}`;
  // node:os through getBuiltinModule (not an ESM import, which builds a namespace; see http.ts), and
  // only here: with the downward API, as in the chart, it is never loaded.
  const { hostname } = process.getBuiltinModule('node:os');
  const holder = `${namespace}/${hostname()}-${Math.random().toString(16).slice(2, 8)}`;
  log.warn({ holder }, 'no $POD_NAME (downward API) and no --holder: using a made-up holder name');
  return holder;
}
