// Certificates issued by someone else (cert-manager): the key pair is read from files, again every
// resync, and swapped in when it changes. The CA is injected into the webhook configuration by
// cert-manager's cainjector (cert-manager.io/inject-ca-from), so ready means "a valid pair is loaded".
import { readFileSync } from 'node:fs';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { expiresAt } from './certs.js';
import type { TlsMaterial } from './tls-keeper.js';

export interface FileTlsOptions {
  certFile: string;
  keyFile: string;
  resyncMs: number;
  clock: Clock;
  log: Logger;
  onCertificate(material: TlsMaterial): void;
}

export class FileTls {
  private timer: TimerHandle | undefined;
  private served = '';
  notReadyReason = 'certificate files not read yet';

  constructor(private readonly opts: FileTlsOptions) {}

  get ready(): boolean {
    return this.notReadyReason === '';
  }

  start(): void {
    void this.sync();
    const again = () => {
      this.timer = this.opts.clock.setTimer(this.opts.resyncMs, () => {
        void this.sync();
        again();
      });
    };
    again();
  }

  stop(): void {
    this.timer?.cancel();
  }

  sync(): Promise<void> {
    const { certFile, keyFile, log } = this.opts;
    try {
      const certPem = readFileSync(certFile, 'utf8');
      const keyPem = readFileSync(keyFile, 'utf8');
      if (expiresAt(certPem) <= this.opts.clock.now()) throw new Error(`${certFile} has expired`);
      if (certPem !== this.served) {
        this.opts.onCertificate({ certPem, keyPem, caBundle: '' });
        this.served = certPem;
        log.info(
          { certFile, expires: new Date(expiresAt(certPem)).toISOString() },
          'serving certificate loaded',
        );
      }
      this.notReadyReason = '';
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.notReadyReason) log.error({ err: message }, 'cannot load the serving certificate');
      this.notReadyReason = message;
    }
    return Promise.resolve();
  }
}
