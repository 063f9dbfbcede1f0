// A client certificate signed by a throwaway CA (test/support/throwaway-ca.ts), made with openssl in
// the CA's temp dir, for tests of client-certificate authentication; removed with the CA.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { issue, type ThrowawayCa } from './throwaway-ca.js';

export interface ClientCert {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

export function makeClientCert(ca: ThrowawayCa, commonName = 'startup-lock-test'): ClientCert {
  const f = (name: string) => join(ca.dir, name);
  issue(ca.dir, 'client', commonName);
  return {
    certFile: f('client.pem'),
    keyFile: f('client.key'),
    certPem: readFileSync(f('client.pem'), 'utf8'),
    keyPem: readFileSync(f('client.key'), 'utf8'),
  };
}
