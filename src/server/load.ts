// The node's 1-minute load average per core, re-read every few seconds, for --max-load: no grant while
// the node is already saturated, whatever the slots say.
import { readFile } from 'node:fs/promises';
import { OperationalError } from '../errors.js';

export class LoadMonitor {
  private perCore = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly maxPerCore: number,
    private readonly cores: number,
    private readonly onChange: () => void,
    private readonly path = '/proc/loadavg',
    private readonly intervalMs = 5000,
  ) {}

  get enabled(): boolean {
    return this.maxPerCore > 0;
  }

  tooHigh(): boolean {
    return this.enabled && this.perCore > this.maxPerCore;
  }

  current(): number {
    return this.perCore;
  }

  /** Reads the load average once; a file that cannot give one is an error at start, not a limit off. */
  async start(): Promise<void> {
    if (!this.enabled) return;
    const first = await this.read();
    if (typeof first === 'string')
      throw new OperationalError(`--max-load: cannot read the load average: ${first}`);
    this.perCore = first / this.cores;
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async sample(): Promise<void> {
    const before = this.tooHigh();
    const load = await this.read();
    // Readable at start and not now: keep the last figure rather than lift the limit.
    if (typeof load === 'number') this.perCore = load / this.cores;
    if (before !== this.tooHigh()) this.onChange();
  }

  /** The 1-minute load average, or what is wrong with the file. */
  private async read(): Promise<number | string> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      return `${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
    const first = text.trim().split(/\s+/)[0] ?? '';
    const load = Number(first);
    return first !== '' && Number.isFinite(load) && load >= 0
      ? load
      : `${this.path} does not start with a load average (${JSON.stringify(first.slice(0, 20))})`;
  }
}
