// Options shared by several commands, declared once.
import { LOG_LEVELS } from '../log-levels.js';
import { option } from './options.js';

export const logLevel = option({
  kind: 'string',
  doc: 'Log level.',
  default: 'info',
  oneOf: LOG_LEVELS,
});

export const kubeconfig = option({
  kind: 'string',
  doc: 'Kubeconfig file for the Kubernetes API; empty means the in-cluster service account.',
  default: '',
  fallbackEnv: ['KUBECONFIG'],
});

export const nodeName = option({
  kind: 'string',
  doc: 'Name of the node this process runs on (from the downward API: spec.nodeName).',
  default: '',
  fallbackEnv: ['NODE_NAME'],
});

export const listenHost = option({ kind: 'string', doc: 'Address to listen on.', default: '0.0.0.0' });

export function listenPort(defaultPort: number) {
  return option({
    kind: 'int',
    doc: 'Port to listen on (0 picks a free one).',
    default: defaultPort,
    min: 0,
    max: 65535,
  });
}
