// Preloaded into the server by `npm run bench:footprint` (node --expose-gc --import): on SIGUSR2, two
// full GCs, then process.memoryUsage() written to $FOOTPRINT_HEAP_FILE, so the bench can split RSS into
// the V8 heap and the rest without changing what the server does between two readings.
import { writeFileSync } from 'node:fs';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  writeFileSync(process.env.FOOTPRINT_HEAP_FILE, JSON.stringify(process.memoryUsage()));
});
