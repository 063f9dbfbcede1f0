// What one probe of a dependency found, and the shape every kind of probe (tcp, http) has, so the
// scheduler can run them alike and tests can stand in for them.

export interface ProbeResult {
  up: boolean;
  /** Why the dependency is down, in words for a log line; null when up. */
  error: string | null;
}

/** Probes one target; resolves (never rejects) once it knows, or when `signal` aborts. */
export type Probe = (target: string, signal: AbortSignal) => Promise<ProbeResult>;

export const UP: ProbeResult = { up: true, error: null };

export function down(error: string): ProbeResult {
  return { up: false, error };
}

/** A one-line reason from whatever an I/O call threw (`ECONNREFUSED 127.0.0.1:5432`, `timed out`). */
export function reasonOf(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = err.message.split('\n')[0] ?? '';
    return code && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(err);
}
