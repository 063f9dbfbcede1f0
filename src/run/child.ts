// The wrapped command, started in a process group of its own so that a signal reaches everything it
// started (a shell's children included), and so that signalling the group never hits us. stdio is
// inherited untouched.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Clock } from '../clock.js';
import { signalExitCode } from '../signals.js';

export type ExitStatus =
  | { kind: 'exited'; code: number }
  | { kind: 'signalled'; signal: NodeJS.Signals }
  /** It never ran: not found, not executable… */
  | { kind: 'failed'; error: NodeJS.ErrnoException };

/** The shell's convention: the code, 128+N for signal N, 127 not found, 126 not executable. */
export function exitCodeOf(status: ExitStatus): number {
  switch (status.kind) {
    case 'exited':
      return status.code;
    case 'signalled':
      return signalExitCode(status.signal);
    case 'failed':
      return status.error.code === 'ENOENT' ? 127 : 126;
  }
}

export function describeExit(status: ExitStatus): string {
  switch (status.kind) {
    case 'exited':
      return `exited with code ${status.code}`;
    case 'signalled':
      return `was killed by ${status.signal}`;
    case 'failed':
      return `could not start: ${status.error.message}`;
  }
}

/** How often to look whether a signalled group is empty yet (no event tells us about grandchildren). */
const GROUP_POLL_MS = 50;

export class ChildGroup {
  /** Resolves once the command's own process has exited (or failed to start). */
  readonly exited: Promise<ExitStatus>;
  private status?: ExitStatus;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => {
      const done = (status: ExitStatus) => {
        if (this.status !== undefined) return;
        this.status = status;
        resolve(status);
      };
      child.once('error', (error: NodeJS.ErrnoException) => {
        if (child.pid === undefined) done({ kind: 'failed', error });
      });
      child.once('exit', (code, signal) => {
        done(signal !== null ? { kind: 'signalled', signal } : { kind: 'exited', code: code ?? 0 });
      });
    });
  }

  static spawn(command: readonly string[], env: NodeJS.ProcessEnv = process.env): ChildGroup {
    const [file, ...args] = command;
    if (file === undefined) throw new Error('no command to run');
    return new ChildGroup(spawn(file, args, { stdio: 'inherit', detached: true, env }));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Signal the whole group; a group that is already gone is not an error. */
  signal(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  /** Does any process of the group still live (the command or anything it started)? */
  groupAlive(): boolean {
    const pid = this.child.pid;
    if (pid === undefined) return false;
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * SIGTERM to the group; SIGKILL to whatever of it is left after `killAfterMs`. Resolves when the
   * command has exited and the group is empty (or has been killed).
   */
  async terminate(killAfterMs: number, clock: Clock): Promise<ExitStatus> {
    this.signal('SIGTERM');
    const deadline = clock.now() + killAfterMs;
    while (this.groupAlive() && clock.now() < deadline) {
      await new Promise<void>((resolve) =>
        clock.setTimer(Math.min(GROUP_POLL_MS, deadline - clock.now()), resolve),
      );
    }
    if (this.groupAlive()) this.signal('SIGKILL');
    return this.exited;
  }
}
