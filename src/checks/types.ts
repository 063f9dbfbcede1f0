// The contract between the dependency checks and the rest of the server: the lock asks "may I grant?",
// the edges (metrics, logs, /v1/status) listen to what each probe found.

export interface CheckState {
  /** The URL as configured (http://…, https://…, tcp://host:port). */
  target: string;
  up: boolean;
  /** False until the first probe finished: the lock stays closed until every check has run once. */
  checked: boolean;
  lastError: string | null;
  /** Epoch ms of the last up/down change (or of the first result). */
  lastChange: number | null;
  /** Epoch ms of the last probe that finished. */
  lastCheck: number | null;
}

export interface CheckObserver {
  /** Every finished probe. */
  onProbe?(target: string, up: boolean, durationMs: number): void;
  /** Only when a check turns up or down (logged once, not every probe). */
  onChange?(state: CheckState): void;
}

export interface DependencyGate {
  /** True once every check has run and while every one is up (true when none are configured). */
  allUp(): boolean;
  states(): CheckState[];
  start(): void;
  close(): Promise<void>;
}
