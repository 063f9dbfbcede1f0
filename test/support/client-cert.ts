// A client certificate signed by a throwaway CA (test/support/throwaway-ca.ts), made with openssl in
// the CA's temp dir, for tests of client-certificate authentication; removed with the CA.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ThrowawayCa } from './throwaway-ca.js';

export interface ClientCert {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

export function makeClientCert(ca: ThrowawayCa, commonName = 'startup-lock-test'): ClientCert {
  const f = (name: string) => join(ca.dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', ...ec, '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', `/CN=${commonName}`);
  openssl(
    'x509',
    '-req',
    '-in',
    f('client.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('client.pem'),
    '-days',
    '1',
  );
  return {
    certFile: f('client.pem'),
    keyFile: f('client.key'),
    certPem: readFileSync(f('client.pem'), 'utf8'),
    keyPem: readFileSync(f('client.key'), 'utf8'),
  };
}
