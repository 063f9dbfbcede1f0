// Run by the Dockerfile's deps stage on the production node_modules: deletes what Node never loads
// at run time — type declarations, source maps, markdown — about half of node_modules by size
// (@kubernetes/client-node alone ships ~25 MB of .d.ts). Plain Node, no shell tools: it must run on any
// build base. Usage: node image-prune-modules.mjs DIR
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const useless = /\.(d\.ts|d\.mts|d\.cts|map|md|markdown)$/i;
const root = process.argv[2];
if (!root) {
  console.error('usage: node image-prune-modules.mjs NODE_MODULES_DIR');
  process.exit(2);
}

let files = 0;
let bytes = 0;
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.isFile() && useless.test(entry.name)) {
      bytes += statSync(path).size;
      rmSync(path);
      files++;
    }
  }
};
walk(root);
console.log(`image-prune-modules: removed ${files} files, ${(bytes / 1e6).toFixed(1)} MB from ${root}`);
