// `npm run bench`: every benchmark in turn (load, then herd), one summary table at the end, and
// bench/results/summary.json. The herd takes its settings from BENCH_HERD_* (see bench/herd.ts --help).
import { mkdirSync, writeFileSync } from 'node:fs';
import { herdHeader, runHerdBench } from './herd.js';
import { machine, table } from './lib.js';
import { runLoadBench } from './load.js';

const RESULTS = new URL('./results/', import.meta.url);

const load = await runLoadBench();
const herd = await runHerdBench();

const date = new Date().toISOString();
console.log(`\n${herdHeader(herd.result)}\n`);
console.log(herd.modeTable);
console.log(`\nstartup-lock benchmarks — summary — ${date}\n${machine()}\n`);
const prefixed = (name: string, rows: [string, string, string, string][]) =>
  rows.map(([m, ...rest]): [string, string, string, string] => [`${name}: ${m}`, ...rest]);
console.log(table([...prefixed('load', load.rows), ...prefixed('herd', herd.rows)]));

mkdirSync(RESULTS, { recursive: true });
const write = (file: string, value: unknown) =>
  writeFileSync(new URL(file, RESULTS), `${JSON.stringify(value, null, 2)}\n`);
write('load.json', load.result);
write('herd.json', herd.result);
write('summary.json', {
  date,
  machine: machine(),
  load: load.result,
  herd: herd.result,
  targets: {
    load: load.rows.map(([measure, value, target, met]) => ({ measure, value, target, met })),
    herd: herd.rows.map(([measure, value, target, met]) => ({ measure, value, target, met })),
  },
});
