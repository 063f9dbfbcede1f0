// The state file's promises in-process: coalesced writes that grants can wait for, a failure that
// rejects exactly the waits it covers, and entries read back range-checked.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { systemClock } from '../../src/clock.js';
import type { Snapshot } from '../../src/lock/types.js';
import { checkSnapshot, StateFile } from '../../src/server/state-file.js';

const silent = pino({ level: 'silent' });
const NOW = Date.UTC(2026, 0, 1);

function fileWith(counter: { n: number; writes: number }) {
  const path = join(mkdtempSync(join(tmpdir(), 'sl-unit-state-')), 'state.json');
  const snapshot = (): Snapshot => {
    counter.writes++;
    return { version: 1, savedAt: counter.n, leases: [], queue: [] };
  };
  return { path, state: new StateFile(path, snapshot, silent, systemClock) };
}

const savedAt = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as Snapshot).savedAt;

describe('state file', () => {
  it('coalesces a burst of changes into few writes, and each wait ends once its change is on disk', async () => {
    const counter = { n: 0, writes: 0 };
    const { path, state } = fileWith(counter);
    const waits: Promise<number>[] = [];
    for (let i = 1; i <= 50; i++) {
      counter.n = i;
      state.markDirty();
      const mine = i;
      waits.push(state.saved().then(() => mine));
    }
    for (const mine of await Promise.all(waits)) expect(savedAt(path)).to.be.at.least(mine);
    expect(counter.writes).to.be.at.most(2);
    // Nothing pending: nothing to wait for.
    await state.saved();
  });

  it('rejects the waits a failed write covered, reports it, and recovers on the next write', async () => {
    const counter = { n: 0, writes: 0 };
    const { path, state } = fileWith(counter);
    mkdirSync(path);
    writeFileSync(join(path, 'occupied'), '');
    state.markDirty();
    let failed = false;
    await state.saved().catch(() => (failed = true));
    expect(failed).to.equal(true);
    expect(state.healthy).to.equal(false);
    rmSync(path, { recursive: true });
    state.markDirty();
    await state.saved();
    expect(state.healthy).to.equal(true);
    await state.flush();
    state.close();
  });

  it('drops entries that are mistyped or out of range and keeps the rest', () => {
    const lease = (over: object) => ({
      id: 'l',
      holder: 'ns/a',
      uid: null,
      slot: 0,
      api: 'v1',
      grantedAt: NOW,
      expiresAt: NOW + 60_000,
      ...over,
    });
    const { snapshot, problems } = checkSnapshot(
      {
        version: 1,
        savedAt: NOW,
        leases: [
          lease({}),
          lease({ expiresAt: 8.64e15 + 1 }),
          lease({ grantedAt: NOW + 0.5 }),
          lease({ slot: -1 }),
          lease({ slot: 1e9 }),
          lease({ id: { no: 1 } }),
          lease({ holder: 'x'.repeat(1000) }),
          lease({ api: 'other' }),
          lease({ expiresAt: NOW - 1, grantedAt: NOW }),
          null,
        ],
        queue: [{ holder: 'ns/w', uid: null, since: NOW }, { holder: 'ns/x', since: Infinity }, 'nope'],
      },
      NOW,
    );
    expect(snapshot?.leases.map((l) => l.id)).to.deep.equal(['l']);
    expect(snapshot?.queue.map((w) => w.holder)).to.deep.equal(['ns/w']);
    expect(problems).to.have.length(11);
  });

  it('caps arrays longer than any limit allows', () => {
    const queue = Array.from({ length: 100_005 }, (_, i) => ({ holder: `ns/w${i}`, uid: null, since: NOW }));
    const { snapshot, problems } = checkSnapshot({ version: 1, savedAt: NOW, leases: [], queue }, NOW);
    expect(snapshot?.queue).to.have.length(100_000);
    expect(problems).to.deep.equal(['5 waiters past 100000']);
  });

  it('refuses a file that is not a startup-lock state at all', () => {
    expect(checkSnapshot([1, 2], NOW).snapshot).to.equal(null);
    expect(checkSnapshot({ version: 2, leases: [], queue: [] }, NOW).snapshot).to.equal(null);
  });
});
