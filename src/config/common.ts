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
