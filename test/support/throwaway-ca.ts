// A private CA and a server certificate for 127.0.0.1/localhost/::1, made with openssl in a temp dir
// at test time, so HTTPS checks are tested against a real TLS handshake and nothing secret is committed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ThrowawayCa {
  dir: string;
  caFile: string;
  caPem: string;
  keyPem: string;
  certPem: string;
  remove(): void;
}

const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** `<name>.key` and `<name>.pem` in `dir` for `commonName`, signed by the CA there (`ca.pem`, `ca.key`). */
export function issue(dir: string, name: string, commonName: string, extfile?: string): void {
  const f = (file: string) => join(dir, file);
  openssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${commonName}`);
  openssl(
    'x509',
    '-req',
    '-in',
    f(`${name}.csr`),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f(`${name}.pem`),
    '-days',
    '1',
    ...(extfile ? ['-extfile', extfile] : []),
  );
}

export function makeThrowawayCa(): ThrowawayCa {
  const dir = mkdtempSync(join(tmpdir(), 'startup-lock-ca-'));
  const f = (name: string) => join(dir, name);
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=startup-lock test CA',
  );
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n');
  issue(dir, 'server', 'localhost', f('ext.cnf'));
  return {
    dir,
    caFile: f('ca.pem'),
    caPem: readFileSync(f('ca.pem'), 'utf8'),
    keyPem: readFileSync(f('server.key'), 'utf8'),
    certPem: readFileSync(f('server.pem'), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
