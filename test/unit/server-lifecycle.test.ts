// The server's lifecycle without a process: what holds grants back, and what /readyz says, in order.
import { expect } from 'chai';
import { ServerLifecycle } from '../../src/server/lifecycle.js';

function setup() {
  const sources = { persisting: true, checksUp: true, loadTooHigh: false };
  const life = new ServerLifecycle({
    persisting: () => sources.persisting,
    checksUp: () => sources.checksUp,
    loadTooHigh: () => sources.loadTooHigh,
  });
  return { life, sources };
}

describe('server lifecycle', () => {
  it('holds grants back as not_ready until the server is ready', () => {
    const { life } = setup();
    expect(life.gate()).to.equal('not_ready');
    expect(life.readiness()).to.deep.equal({ ready: false, why: 'starting' });
    life.ready = true;
    expect(life.gate()).to.equal(null);
    expect(life.readiness()).to.deep.equal({ ready: true });
  });

  it('gives the first reason in order: state file, draining, checks, load', () => {
    const { life, sources } = setup();
    life.ready = true;
    sources.loadTooHigh = true;
    expect(life.gate()).to.equal('load');
    sources.checksUp = false;
    expect(life.gate()).to.equal('checks_failing');
    life.draining = true;
    expect(life.gate()).to.equal('draining');
    sources.persisting = false;
    expect(life.gate()).to.equal('not_ready');
  });

  it('is not ready while draining or while the state file cannot be written', () => {
    const { life, sources } = setup();
    life.ready = true;
    sources.persisting = false;
    expect(life.readiness()).to.deep.equal({ ready: false, why: 'state file write failing' });
    life.draining = true;
    expect(life.readiness()).to.deep.equal({ ready: false, why: 'draining' });
  });
});
