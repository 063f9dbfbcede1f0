// The injector's pure decision: which pods, where the container goes, how annotations become flags.
import { expect } from 'chai';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { decide, setFlag, type MutateSettings } from '../../src/inject/mutate.js';

const { applyPatch } = fastJsonPatch;

const container = {
  name: 'startup-lock',
  image: 'ghcr.io/startup-lock/startup-lock:0.1.0',
  args: ['acquire', '--port', '9000', '--fail-open-after', '5m'],
};
const settings: MutateSettings = { container, ownNamespace: 'startup-lock', meshExcludePort: true };

type Pod = {
  metadata?: Record<string, unknown>;
  spec: { initContainers?: { name: string; args?: string[] }[] };
};
const apply = (pod: Pod, ops: unknown[]): Pod =>
  applyPatch(structuredClone(pod), ops as Operation[], true, false).newDocument;

describe('inject: mutate (pure decision and patch)', () => {
  it('puts flags where the library renders them', () => {
    const base = ['acquire', '--port', '8888', '--fail-open-after', '5m'];
    expect(setFlag(base, '--timeout', '30m')).to.deep.equal([
      'acquire',
      '--port',
      '8888',
      '--timeout',
      '30m',
      '--fail-open-after',
      '5m',
    ]);
    expect(setFlag(setFlag(base, '--timeout', '30m'), '--duration', '2m')).to.deep.equal([
      'acquire',
      '--port',
      '8888',
      '--duration',
      '2m',
      '--timeout',
      '30m',
      '--fail-open-after',
      '5m',
    ]);
    expect(setFlag(base, '--fail-open-after', '0')).to.deep.equal([
      'acquire',
      '--port',
      '8888',
      '--fail-open-after',
      '0',
    ]);
  });

  it('adds metadata and annotations to a pod that has none, with the lock port from the container', () => {
    const pod: Pod = { spec: {} };
    const d = decide(pod, 'apps', settings);
    expect(d.outcome).to.equal('injected');
    const after = apply(pod, d.patch);
    expect(after.metadata).to.deep.equal({
      annotations: {
        'traffic.sidecar.istio.io/excludeOutboundPorts': '9000',
        'config.linkerd.io/skip-outbound-ports': '9000',
      },
    });
    expect(after.spec.initContainers).to.deep.equal([container]);
  });

  it('leaves the mesh annotations alone when asked to (--mesh-exclude-port=false)', () => {
    const d = decide({ spec: {} }, 'apps', { ...settings, meshExcludePort: false });
    expect(d.patch.map((op) => op.path)).to.deep.equal(['/spec/initContainers']);
  });

  it('rejects out-of-range and non-whole-second annotations with a warning, keeps valid ones', () => {
    const pod: Pod = {
      metadata: {
        annotations: {
          'startup-lock.io/duration': '1500ms',
          'startup-lock.io/timeout': '10000h',
          'startup-lock.io/fail-open-after': '2m',
        },
      },
      spec: {},
    };
    const d = decide(pod, 'apps', settings);
    expect(d.warnings).to.have.length(2);
    expect(d.warnings[0]).to.match(/startup-lock\.io\/duration="1500ms" ignored/);
    expect(d.warnings[1]).to.match(
      /startup-lock\.io\/timeout="10000h" ignored: expected a duration: .* from 0s to 168h/,
    );
    expect(apply(pod, d.patch).spec.initContainers?.[0]?.args).to.deep.equal([
      'acquire',
      '--port',
      '9000',
      '--fail-open-after',
      '2m',
    ]);
  });

  it('throws on a pod it cannot patch (the review answers it allowed, unchanged)', () => {
    expect(() => decide({ metadata: {} }, 'apps', settings)).to.throw(TypeError);
    expect(() => decide({ spec: { initContainers: 'x' } }, 'apps', settings)).to.throw(TypeError);
  });
});
