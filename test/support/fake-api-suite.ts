// The set-up every real-process suite against the fake API shares: the built program must exist, each
// test gets a fresh fake API and kubeconfig, and everything started is stopped afterwards.
import { existsSync } from 'node:fs';
import { FakeKubeApi } from './fake-kube-api.js';
import { stopAll } from './processes.js';

/** Register the hooks in the calling describe(); `seed` receives each test's API and kubeconfig path. */
export function fakeApiPerTest(
  builtModule: string,
  seed: (api: FakeKubeApi, kubeconfig: string) => void | Promise<void>,
): void {
  let api: FakeKubeApi | undefined;

  before(function () {
    if (!existsSync(builtModule)) {
      throw new Error(`dist/ is missing (${builtModule}): run \`npm run build\` first`);
    }
  });

  beforeEach(async () => {
    api = await FakeKubeApi.start();
    await seed(api, await api.writeKubeconfig());
  });

  afterEach(async () => {
    await stopAll();
    await api?.close();
  });
}
