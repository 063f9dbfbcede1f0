// Reads a --token-file (the lease API's bearer token), for the server and the acquire client alike:
// surrounding whitespace trimmed (a Secret's trailing newline), an unreadable or empty file a problem.
// Synchronous: the file is a few bytes on a Secret volume, read at start and, by the server, at most
// once a second after it changes.

// Through getBuiltinModule, not an ESM import: `acquire` loads this in every init container, and an
// ESM import of node:fs builds its namespace, loading its stream classes (~4 ms).
const { readFileSync } = process.getBuiltinModule('node:fs');

export function readTokenFile(path: string): string | { problem: string } {
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (err) {
    return { problem: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  return token === '' ? { problem: `${path} is empty` } : token;
}
