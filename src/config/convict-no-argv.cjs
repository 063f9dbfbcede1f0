// Stands in for yargs-parser inside dist/acquire.mjs (esbuild --alias). convict is always handed
// `args: []` (load.ts merges flags itself), so its argv parser only ever parses nothing; leaving the
// real one out of the bundle keeps it off every init container's start-up.
module.exports = () => ({ _: [] });
