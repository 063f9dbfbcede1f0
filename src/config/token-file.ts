// Reads a --token-file (the lease API's bearer token), for the server and the acquire client alike:
// surrounding whitespace trimmed (a Secret's trailing newline), an unreadable or empty file a problem,
// and so is a token an HTTP header cannot carry as it is (a newline inside, control characters,
// non-ASCII): the client could never send it, so the server must not wait for it.
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
  if (token === '') return { problem: `${path} is empty` };
  // Printable ASCII, and spaces or tabs inside: what goes into `Authorization: Bearer …` unchanged.
  if (!/^[\x20-\x7e\t]+$/.test(token))
    return {
      problem: `${path} holds characters a header cannot carry (a newline inside, control characters or non-ASCII)`,
    };
  return token;
}
