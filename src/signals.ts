// Signals as the shell and the kubelet see them: waiting for the one that stops a command, and the
// exit code 128+N for signal N. The acquire client bundles this: built-ins through getBuiltinModule
// (see src/client/http.ts), and node:os only once a signal has come: an acquire that is not stopped
// never loads it.

/** The signals that stop a long-running command: the kubelet's SIGTERM, an operator's Ctrl-C. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/** The shell's convention for a process ended by `signal`: 128 + its number (SIGTERM → 143). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (process.getBuiltinModule('node:os').constants.signals[signal] ?? 0);
}

/**
 * Resolves with the first SIGTERM or SIGINT. With `onRepeat`, the listeners stay on and every later
 * stop signal goes to it (so a second SIGTERM cannot kill the process mid-shutdown with Node's
 * default action); without, they are removed and a second signal ends the process as usual.
 */
export function untilStopSignal(onRepeat?: (signal: NodeJS.Signals) => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) return onRepeat?.(signal);
      received = true;
      if (!onRepeat) for (const s of STOP_SIGNALS) process.off(s, onSignal);
      resolve(signal);
    };
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
  });
}
