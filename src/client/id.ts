// The `client=` value of one `acquire` process: 128 random bits as 32 hex digits, read from
// /dev/urandom through node:fs, which start-up has loaded already. crypto.randomUUID() (or
// node:crypto's randomBytes) loads Node's crypto modules for it: ~8–10 ms of CPU per init container
// on Node 24 (docs/benchmarks.md), for 16 bytes. Where /dev/urandom cannot be read, randomUUID().
const { openSync, readSync, closeSync } = process.getBuiltinModule('node:fs');

export function newClientId(source = '/dev/urandom'): string {
  try {
    const bytes = Buffer.alloc(16);
    const fd = openSync(source, 'r');
    try {
      if (readSync(fd, bytes, 0, 16, null) !== 16) throw new Error(`short read from ${source}`);
    } finally {
      closeSync(fd);
    }
    return bytes.toString('hex');
  } catch {
    return globalThis.crypto.randomUUID().replaceAll('-', '');
  }
}
