// Stands in for lodash.clonedeep inside dist/acquire.mjs (esbuild --alias): convict clones only the
// schema nodes and values load.ts gives it, plain objects, arrays, scalars and functions (kept by
// reference, as lodash does for a function inside an object). lodash's version costs ~5 ms of every
// init container's start-up to load.
const clone = (value) => {
  if (Array.isArray(value)) return value.map(clone);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value)) out[key] = clone(value[key]);
    return out;
  }
  return value;
};
module.exports = clone;
