// Every command that talks to the Kubernetes API refuses to start, with exit 2 and one line naming
// --kubeconfig, when it cannot load the credentials it was given.
import { expect } from 'chai';
import { startProcess, stopAll } from '../support/processes.js';

const commands: [string, string[]][] = [
  ['server', ['server', '--port', '0', '--release-on-ready', '--node-name', 'n1']],
  ['health', ['health', '--port', '0', '--node-name', 'n1']],
  ['run', ['run', '--name', 'lock', '--', 'true']],
];

describe('kubeconfig problems are configuration errors', () => {
  afterEach(stopAll);

  for (const [name, args] of commands) {
    it(`${name} exits 2 naming --kubeconfig for a file it cannot load`, async () => {
      const [command, ...rest] = args;
      const p = startProcess([command!, '--kubeconfig', '/nonexistent/kubeconfig', ...rest]);
      expect((await p.exited).code).to.equal(2);
      expect(p.output()).to.match(/--kubeconfig: cannot load \/nonexistent\/kubeconfig/);
    });

    it(`${name} exits 2 outside a pod without a kubeconfig`, async () => {
      const p = startProcess(args, { KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' });
      expect((await p.exited).code).to.equal(2);
      expect(p.output()).to.include('--kubeconfig: not running in a pod');
    });
  }
});
