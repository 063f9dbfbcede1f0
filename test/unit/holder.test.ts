// Holder names: one function per kind of name, and the way back from a name to its pod.
import { expect } from 'chai';
import { legacyHolder, madeUpHolder, podHolder, podOf } from '../../src/holder.js';

describe('holder names', () => {
  it('names a pod namespace/name and leads back to it', () => {
    expect(podHolder('shop', 'web-0')).to.equal('shop/web-0');
    expect(podOf('shop/web-0')).to.deep.equal({ namespace: 'shop', name: 'web-0' });
  });

  it('finds no pod behind legacy, made-up-looking or malformed names', () => {
    expect([podOf('legacy:10.0.0.1#ab12.3'), podOf('a/b/c'), podOf('ns/'), podOf('/pod')]).to.deep.equal([
      null,
      null,
      null,
      null,
    ]);
  });

  it('names a legacy request legacy:IP#bootId.n', () => {
    expect(legacyHolder('::1', 'b00t', 7)).to.equal('legacy:::1#b00t.7');
  });

  it('makes a host-based name unique per process when the pod name is unknown', () => {
    expect(madeUpHolder('default', 'node-1', () => 0.5)).to.equal('default/node-1-8');
    expect(madeUpHolder('default', 'node-1', () => 0.123456789)).to.equal('default/node-1-1f9add');
  });
});
