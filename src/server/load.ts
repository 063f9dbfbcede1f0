// The node's 1-minute load average per core, re-read every few seconds, for --max-load: no grant while
// the node is already saturated, whatever the slots say.
import { readFile } from 'node:fs/promises';

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

  async start(): Promise<void> {
    if (!this.enabled) return;
    await this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async sample(): Promise<void> {
    const before = this.tooHigh();
    try {
      const first = Number((await readFile(this.path, 'utf8')).split(/\s+/)[0]);
      if (Number.isFinite(first)) this.perCore = first / this.cores;
    } catch {
      // No load average (not Linux, or no /proc): the limit cannot apply.
      this.perCore = 0;
    }
    if (before !== this.tooHigh()) this.onChange();
  }
}
