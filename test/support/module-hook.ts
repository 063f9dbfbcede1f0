// What a child process loads: a `--require` hook that, on exit, writes the built-ins it loaded
// (process.moduleLoadList) and every file it resolved, CommonJS or ESM (module.registerHooks, Node >=
// 22.15; `files` is null on an older Node).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LoadedModules {
  builtins: string[];
  files: string[] | null;
}

/** Writes the hook into `dir`; pass `--require <hook>` to node, then `read()` once the process exited. */
export function moduleHook(dir: string): { hook: string; read(): LoadedModules } {
  const hook = join(dir, 'hook.cjs');
  const out = join(dir, 'modules.json');
  writeFileSync(
    hook,
    `const mod = require('module'); const files = [];
    mod.registerHooks?.({ resolve(s, c, next) { const r = next(s, c); if (r.url.startsWith('file:')) files.push(r.url); return r; } });
    process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(out)},
      JSON.stringify({ builtins: process.moduleLoadList, files: mod.registerHooks ? files : null })));`,
  );
  return { hook, read: () => JSON.parse(readFileSync(out, 'utf8')) as LoadedModules };
}
