// `startup-lock run`, once configured: wait for one of the Leases, run the command while renewing it,
// stop the command if the Lease is lost, then record completion (--once) and release. Returns the exit
// code; see the summary in src/config/run.ts for what each one means.
import type { Clock, TimerHandle } from '../clock.js';
import { formatDuration } from '../config/formats.js';
import type { RunConfig } from '../config/run.js';
import { Backoff } from '../backoff.js';
import { AccessDeniedError, ApiCallError } from '../kube/api-error.js';
import { LeaseLostError, type LeaseLock } from './lease-lock.js';
import type { Logger } from '../log.js';
import { signalExitCode } from '../signals.js';
import { ChildGroup, describeExit, exitCodeOf, type ExitStatus } from './child.js';

export const EXIT_WAIT_TIMEOUT = 1;
export const EXIT_LOCK_LOST = 3;
export const EXIT_ACCESS_DENIED = 4;

/** Signals passed on to the command's process group (SIGUSR1 is Node's debugger signal). */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

export interface RunnerOptions {
  config: Pick<
    RunConfig,
    'once' | 'waitTimeout' | 'leaseDuration' | 'renewDeadline' | 'retryPeriod' | 'killAfter'
  >;
  command: readonly string[];
  lock: LeaseLock;
  /** Start watching the Leases; `onChange` wakes the waiter. Returns the stop function. */
  watch: (onChange: () => void) => () => void;
  log: Logger;
  clock: Clock;
  random?: () => number;
}

/** A wait that a watch event or a signal can cut short. */
class Wakeup {
  private pending = false;
  private resolve?: () => void;

  constructor(private readonly clock: Clock) {}

  wake(): void {
    if (this.resolve) this.resolve();
    else this.pending = true;
  }

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined = undefined;
      const done = () => {
        timer?.cancel();
        this.resolve = undefined;
        resolve();
      };
      this.resolve = done;
      timer = this.clock.setTimer(ms, done);
    });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, clock: Clock): Promise<T | 'timeout'> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimer(ms, () => resolve('timeout'));
    promise.then(
      (v) => {
        timer.cancel();
        resolve(v);
      },
      (err: unknown) => {
        timer.cancel();
        reject(err);
      },
    );
  });
}

export class Runner {
  private readonly wakeup: Wakeup;
  private readonly random: () => number;
  private child?: ChildGroup;
  private signalled?: NodeJS.Signals;

  constructor(private readonly o: RunnerOptions) {
    this.wakeup = new Wakeup(o.clock);
    this.random = o.random ?? Math.random;
  }

  async run(): Promise<number> {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.child) {
        this.o.log.info({ signal }, 'forwarding the signal to the command');
        this.child.signal(signal);
      } else {
        this.signalled ??= signal;
        this.wakeup.wake();
      }
    };
    for (const signal of FORWARDED) process.on(signal, onSignal);
    const stopWatch = this.o.watch(() => this.wakeup.wake());
    let watching = true;
    try {
      const waited = await this.waitForLock();
      stopWatch();
      watching = false;
      if (waited !== 'acquired') return waited;
      if (this.signalled !== undefined) {
        this.o.log.warn({ signal: this.signalled }, 'signalled before the command started; not running it');
        await this.release();
        return signalExitCode(this.signalled);
      }
      return await this.hold();
    } finally {
      if (watching) stopWatch();
      for (const signal of FORWARDED) process.off(signal, onSignal);
    }
  }

  /** 'acquired', or the exit code to end with. */
  private async waitForLock(): Promise<'acquired' | number> {
    const { config, lock, log, clock } = this.o;
    const started = clock.now();
    const deadline = config.waitTimeout > 0 ? started + config.waitTimeout : Infinity;
    // Capped exponential backoff with jitter: the API may be restarting; don't hammer it.
    const backoff = new Backoff(
      config.retryPeriod,
      Math.max(config.retryPeriod, config.leaseDuration),
      this.random,
    );
    let lastHolders = '';
    let lastError = '';
    for (;;) {
      if (this.signalled !== undefined) {
        log.warn({ signal: this.signalled }, 'signalled while waiting for the lock; giving up');
        return signalExitCode(this.signalled);
      }
      let delay = config.retryPeriod * (1 + 0.2 * this.random());
      try {
        const result = await lock.tryAcquire(config.once);
        backoff.reset();
        lastError = '';
        if (result.kind === 'acquired') {
          log.info({ lease: result.name, waitedMs: clock.now() - started }, 'lock acquired');
          return 'acquired';
        }
        if (result.kind === 'completed') {
          log.info(
            { completedAt: result.completion.at, completedBy: result.completion.by },
            'the command already completed in the cluster (--once); skipping it',
          );
          return 0;
        }
        const holders = result.leases.map((l) => `${l.name}=${l.holder}`).join(', ');
        if (holders !== lastHolders) {
          lastHolders = holders;
          if (holders !== '') log.info({ holders: result.leases }, 'waiting for the lock');
        }
        // Wake up when the soonest holder would expire; a lost race (nothing busy) is retried soon.
        const soonest = Math.min(...result.leases.map((l) => l.expiresAt)) - clock.now();
        if (result.leases.length === 0) delay = Math.min(delay, config.retryPeriod / 4);
        else if (soonest > 0) delay = Math.min(delay, soonest + 10);
      } catch (err) {
        if (err instanceof AccessDeniedError) {
          log.error({ status: err.status }, err.message);
          return EXIT_ACCESS_DENIED;
        }
        if (!(err instanceof ApiCallError)) throw err;
        delay = backoff.next();
        if (err.message !== lastError) {
          lastError = err.message;
          log.warn(
            { err: err.message, status: err.status, retryInMs: Math.round(delay) },
            'Kubernetes API error; retrying',
          );
        }
      }
      const left = deadline - clock.now();
      if (left > 0) await this.wakeup.wait(Math.min(delay, left));
      if (clock.now() >= deadline) {
        log.error(
          {
            waitTimeout: formatDuration(config.waitTimeout),
            holders: lastHolders || undefined,
            lastError: lastError || undefined,
          },
          `gave up waiting for the lock after ${formatDuration(config.waitTimeout)} (--wait-timeout); the command did not run`,
        );
        return EXIT_WAIT_TIMEOUT;
      }
    }
  }

  /** Run the command while renewing; stop it if the Lease is lost. */
  private async hold(): Promise<number> {
    const { config, command, lock, log, clock } = this.o;
    let child: ChildGroup;
    try {
      child = ChildGroup.spawn(command);
    } catch (err) {
      // Arguments Node refuses outright (a NUL byte, say); failures to exec arrive as 'error' events.
      log.error({ err: (err as Error).message }, 'could not start the command');
      await this.release();
      return exitCodeOf({ kind: 'failed', error: err as NodeJS.ErrnoException });
    }
    this.child = child;
    log.info({ pid: child.pid, command }, 'running the command');

    let lastRenew = clock.now();
    let stopped = false;
    let inflight: Promise<void> | undefined;
    let renewTimer: TimerHandle | undefined;
    let deadlineTimer: TimerHandle | undefined;
    // `expiring`: nobody else holds the Lease yet, but it runs out at lastRenew + leaseDuration.
    let lose!: (loss: { reason: string; expiring: boolean }) => void;
    const lost = new Promise<{ reason: string; expiring: boolean }>((resolve) => (lose = resolve));
    const armDeadline = () => {
      deadlineTimer?.cancel();
      deadlineTimer = clock.setTimer(lastRenew + config.renewDeadline - clock.now(), () =>
        lose({
          reason: `could not renew the lease for ${formatDuration(config.renewDeadline)} (--renew-deadline)`,
          expiring: true,
        }),
      );
    };
    const renew = async () => {
      try {
        await lock.renew();
        lastRenew = clock.now();
        if (!stopped) armDeadline();
      } catch (err) {
        if (err instanceof LeaseLostError) return lose({ reason: err.message, expiring: false });
        // Anything else (API errors, timeouts, even a bug) is retried: the deadline decides, and the
        // command is never left running unsupervised by an exception escaping from a timer.
        log.warn({ err: (err as Error).message }, 'lease renewal failed; retrying until --renew-deadline');
      }
    };
    const tick = () => {
      if (stopped) return;
      inflight = renew().finally(() => {
        inflight = undefined;
        if (!stopped) renewTimer = clock.setTimer(config.retryPeriod, tick);
      });
    };
    armDeadline();
    renewTimer = clock.setTimer(config.retryPeriod, tick);

    const first = await Promise.race([
      child.exited.then((status) => ({ kind: 'exited' as const, status })),
      lost.then((loss) => ({ kind: 'lost' as const, ...loss })),
    ]);
    stopped = true;
    renewTimer?.cancel();
    deadlineTimer?.cancel();

    if (first.kind === 'lost') {
      // While the Lease has not run out, nobody else can hold it: SIGKILL comes no later than that
      // moment, so the command never overlaps the next holder's (clocks in sync), even with a long
      // --kill-after.
      const killAfter = first.expiring
        ? Math.max(0, Math.min(config.killAfter, lastRenew + config.leaseDuration - clock.now()))
        : config.killAfter;
      log.error(
        { reason: first.reason, killAfter: formatDuration(Math.round(killAfter)) },
        `lost the lock: ${first.reason}; stopping the command (SIGTERM to its process group, then SIGKILL)`,
      );
      const status = await child.terminate(killAfter, clock);
      this.child = undefined;
      log.info({ code: exitCodeOf(status) }, `the command ${describeExit(status)}`);
      // If the API is merely slow, hand the Lease over now rather than at its expiry; never wait long.
      await withTimeout(this.release(), config.retryPeriod, clock).catch(() => undefined);
      return EXIT_LOCK_LOST;
    }

    this.child = undefined;
    await inflight?.catch(() => undefined);
    const code = this.report(first.status);
    if (config.once && code === 0) await this.markCompleted(lastRenew);
    await this.release();
    return code;
  }

  private report(status: ExitStatus): number {
    const code = exitCodeOf(status);
    const fields = { code, ...(status.kind === 'signalled' ? { signal: status.signal } : {}) };
    if (status.kind === 'failed') this.o.log.error(fields, `the command ${describeExit(status)}`);
    else this.o.log.info(fields, `the command ${describeExit(status)}`);
    return code;
  }

  /** Write the --once marker while we hold the Lease; retried until the renew deadline would pass. */
  private async markCompleted(lastRenew: number): Promise<void> {
    const { config, lock, log, clock } = this.o;
    const until = lastRenew + config.renewDeadline;
    for (;;) {
      try {
        await lock.markCompleted();
        log.info('recorded completion on the lease (--once): later holders will skip the command');
        return;
      } catch (err) {
        const message = (err as Error).message;
        if (err instanceof LeaseLostError || clock.now() + config.retryPeriod >= until) {
          log.error(
            { err: message },
            'could not record completion on the lease; the next holder will run the command again',
          );
          return;
        }
        log.warn({ err: message }, 'recording completion failed; retrying');
        await new Promise<void>((resolve) => clock.setTimer(config.retryPeriod, resolve));
      }
    }
  }

  private async release(): Promise<void> {
    const { lock, log } = this.o;
    const lease = lock.heldLease;
    if (lease === undefined) return;
    try {
      await lock.release();
      log.info({ lease }, 'lock released');
    } catch (err) {
      log.warn(
        { lease, err: (err as Error).message },
        'could not release the lease; it expires after --lease-duration',
      );
    }
  }
}
