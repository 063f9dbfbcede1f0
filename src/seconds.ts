// Milliseconds inside, seconds at the edges: the one rounding for logs, JSON and Event messages.
// Imports nothing: the acquire client bundles it.

/** Milliseconds as seconds with one decimal (1234 → 1.2). */
export function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}
