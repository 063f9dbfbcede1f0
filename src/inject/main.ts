// `startup-lock inject`: load the container to inject, listen (TLS for the API server, plain HTTP for
// probes and metrics), keep the certificate (its own Secret and caBundle, or cert-manager's files), and
// stop in reverse order on SIGTERM/SIGINT.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect } from 'node:tls';
import { systemClock } from '../clock.js';
import { injectCommand } from '../config/inject.js';
import { loadConfig } from '../config/load.js';
import { listen } from '../listen.js';
import { createLogger } from '../log.js';
import { untilStopSignal } from '../signals.js';
import { createInjectorMetrics } from '../metrics.js';
import { createApps } from './app.js';
import { dnsNamesOf, expiresAt } from './certs.js';
import { loadContainer } from './container.js';
import { FileTls } from './file-tls.js';
import type { TlsMaterial } from './tls-keeper.js';

export async function main(argv: string[]): Promise<number> {
  const { config } = loadConfig(injectCommand, argv);
  const container = loadContainer(config.containerFile);
  const selfManaged = config.tlsCertFile === '';
  // @kubernetes/client-node is ~75 MiB of RSS: loaded only when the webhook keeps its own certificate.
  const kube = selfManaged
    ? {
        kubeConfig: (await import('../kube/kube-config.js')).loadKubeConfig(config.kubeconfig),
        TlsKeeper: (await import('./tls-keeper.js')).TlsKeeper,
      }
    : undefined;
  const log = createLogger('inject', config.logLevel);
  const metrics = createInjectorMetrics();
  const dnsNames = dnsNamesOf(config.serviceName, config.namespace);

  const tlsServer = createHttpsServer({ keepAliveTimeout: 30_000 });
  const onCertificate = (material: TlsMaterial) => {
    tlsServer.setSecureContext({ cert: material.certPem, key: material.keyPem });
    metrics.certificateExpiry.set(expiresAt(material.certPem) / 1000);
  };
  let port = 0;
  const verify = (caBundle: string) =>
    handshake(loopback(config.host), port, caBundle, dnsNames[2] as string);
  const certs = kube
    ? new kube.TlsKeeper({
        kubeConfig: kube.kubeConfig,
        namespace: config.namespace,
        secretName: config.secretName,
        webhookName: config.webhookName,
        dnsNames,
        certValidityMs: config.certValidity,
        caValidityMs: config.caValidity,
        renewBeforeMs: config.renewBefore,
        resyncMs: config.resync,
        clock: systemClock,
        log,
        onCertificate,
        verify,
      })
    : new FileTls({
        certFile: config.tlsCertFile,
        keyFile: config.tlsKeyFile,
        resyncMs: config.resync,
        clock: systemClock,
        log,
        onCertificate,
      });

  const settings = { container, ownNamespace: config.namespace, meshExcludePort: config.meshExcludePort };
  const apps = createApps(settings, metrics, certs, log);
  tlsServer.on('request', apps.webhook);
  const healthServer = createHttpServer({ keepAliveTimeout: 5000 }, apps.health);
  port = await listen(tlsServer, config.host, config.port, '--port');
  const healthPort = await listen(healthServer, config.host, config.healthPort, '--health-port');
  log.info(
    {
      host: config.host,
      port,
      healthPort,
      container: container.name,
      certificates: selfManaged ? 'self' : 'files',
    },
    'startup-lock inject listening',
  );
  certs.start();

  const signal = await untilStopSignal();
  log.info({ signal }, 'signal received');
  certs.stop();
  await Promise.all([close(tlsServer), close(healthServer)]);
  log.info('stopped');
  return 0;
}

function loopback(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** A TLS handshake to our own port, trusting only `caBundle` and checking the Service's name. */
function handshake(host: string, port: number, caBundle: string, servername: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, ca: caBundle, servername, timeout: 5000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('secureConnect', () => done(socket.authorized));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
