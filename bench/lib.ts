// Shared by the benchmarks: start the built server as a real process, read its memory, print tables.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../bin/startup-lock', import.meta.url));

export interface BenchServer {
  url: string;
  port: number;
  child: ChildProcess;
  /** How the leases ended so far, from the server's `lease released` log lines: { probe: 8 }. */
  releaseReasons(): Record<string, number>;
  stop(): Promise<void>;
}

export async function startBenchServer(
  node: string,
  args: string[],
  nodeFlags: string[] = [],
): Promise<BenchServer> {
  const child = spawn(node, [...nodeFlags, BIN, 'server', '--host', '127.0.0.1', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    releaseReasons() {
      const counts: Record<string, number> = {};
      for (const line of out.split('\n')) {
        if (!line.includes('"lease released"')) continue;
        const reason = String((JSON.parse(line) as { reason?: unknown }).reason);
        counts[reason] = (counts[reason] ?? 0) + 1;
      }
      return counts;
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Resident set size of a process in bytes, from /proc. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} cores (${cpu.trim()}), Node ${process.version}, ${process.platform}/${process.arch}`;
}

export function table(rows: [string, string, string, string][]): string {
  const head: [string, string, string, string] = ['measure', 'value', 'target', 'met'];
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** True when the module is the script node was started with (not imported by bench/all.ts). */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(moduleUrl) === resolve(process.argv[1]);
}
