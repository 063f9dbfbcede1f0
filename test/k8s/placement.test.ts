// placement(): whether a DaemonSet's pod template belongs on a node, rule by rule, as the DaemonSet
// controller decides it.
import type { V1Node, V1NodeSelectorRequirement, V1PodSpec, V1Taint } from '@kubernetes/client-node';
import { expect } from 'chai';
import { daemonSetTolerations, placement, tolerates } from '../../src/health/placement.js';

function node(labels: Record<string, string> = {}, taints: V1Taint[] = [], name = 'node-1'): V1Node {
  return { metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } }, spec: { taints } };
}

const spec = (extra: Partial<V1PodSpec> = {}): V1PodSpec => ({ containers: [{ name: 'c' }], ...extra });

function affinity(...terms: { exprs?: V1NodeSelectorRequirement[]; fields?: V1NodeSelectorRequirement[] }[]) {
  return spec({
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: terms.map((t) => ({
            ...(t.exprs ? { matchExpressions: t.exprs } : {}),
            ...(t.fields ? { matchFields: t.fields } : {}),
          })),
        },
      },
    },
  });
}

const belongs = (s: V1PodSpec | undefined, n: V1Node) => placement(s, n).belongs;

describe('placement of a DaemonSet pod on a node', () => {
  it('puts a DaemonSet without selectors on every untainted node', () => {
    expect(placement(spec(), node())).to.deep.equal({ belongs: true });
    expect(belongs(undefined, node())).to.equal(true);
  });

  describe('nodeSelector', () => {
    it('needs every label to match', () => {
      const s = spec({ nodeSelector: { disk: 'ssd', zone: 'a' } });
      expect(belongs(s, node({ disk: 'ssd', zone: 'a', extra: 'x' }))).to.equal(true);
      expect(placement(s, node({ disk: 'ssd', zone: 'b' }))).to.deep.equal({
        belongs: false,
        why: 'nodeSelector zone=a: the node has zone=b',
      });
      expect(placement(s, node({ disk: 'ssd' }))).to.deep.include({ belongs: false });
      expect((placement(s, node({ disk: 'ssd' })) as { why: string }).why).to.match(/no label zone/);
    });
  });

  it('honours spec.nodeName in the template', () => {
    expect(belongs(spec({ nodeName: 'node-1' }), node())).to.equal(true);
    expect(belongs(spec({ nodeName: 'node-2' }), node())).to.equal(false);
  });

  describe('required node affinity', () => {
    const n = node({ tier: 'web', gpus: '4' });
    it('In / NotIn', () => {
      expect(
        belongs(affinity({ exprs: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] }), n),
      ).to.equal(true);
      expect(belongs(affinity({ exprs: [{ key: 'tier', operator: 'In', values: ['db'] }] }), n)).to.equal(
        false,
      );
      expect(belongs(affinity({ exprs: [{ key: 'absent', operator: 'In', values: ['x'] }] }), n)).to.equal(
        false,
      );
      expect(belongs(affinity({ exprs: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }), n)).to.equal(
        true,
      );
      expect(belongs(affinity({ exprs: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] }), n)).to.equal(
        false,
      );
      expect(belongs(affinity({ exprs: [{ key: 'absent', operator: 'NotIn', values: ['x'] }] }), n)).to.equal(
        true,
      );
    });
    it('Exists / DoesNotExist', () => {
      expect(belongs(affinity({ exprs: [{ key: 'tier', operator: 'Exists' }] }), n)).to.equal(true);
      expect(belongs(affinity({ exprs: [{ key: 'absent', operator: 'Exists' }] }), n)).to.equal(false);
      expect(belongs(affinity({ exprs: [{ key: 'absent', operator: 'DoesNotExist' }] }), n)).to.equal(true);
      expect(belongs(affinity({ exprs: [{ key: 'tier', operator: 'DoesNotExist' }] }), n)).to.equal(false);
    });
    it('Gt / Lt compare integers; a non-integer or a missing label never matches', () => {
      expect(belongs(affinity({ exprs: [{ key: 'gpus', operator: 'Gt', values: ['3'] }] }), n)).to.equal(
        true,
      );
      expect(belongs(affinity({ exprs: [{ key: 'gpus', operator: 'Gt', values: ['4'] }] }), n)).to.equal(
        false,
      );
      expect(belongs(affinity({ exprs: [{ key: 'gpus', operator: 'Lt', values: ['10'] }] }), n)).to.equal(
        true,
      );
      expect(belongs(affinity({ exprs: [{ key: 'gpus', operator: 'Lt', values: ['4'] }] }), n)).to.equal(
        false,
      );
      expect(belongs(affinity({ exprs: [{ key: 'tier', operator: 'Gt', values: ['1'] }] }), n)).to.equal(
        false,
      );
      expect(belongs(affinity({ exprs: [{ key: 'absent', operator: 'Lt', values: ['1'] }] }), n)).to.equal(
        false,
      );
      expect(belongs(affinity({ exprs: [{ key: 'gpus', operator: 'Gt', values: ['1', '2'] }] }), n)).to.equal(
        false,
      );
    });
    it('matchFields on metadata.name (In / NotIn)', () => {
      const name = (operator: string, v: string) =>
        affinity({ fields: [{ key: 'metadata.name', operator, values: [v] }] });
      expect(belongs(name('In', 'node-1'), n)).to.equal(true);
      expect(belongs(name('In', 'node-2'), n)).to.equal(false);
      expect(belongs(name('NotIn', 'node-2'), n)).to.equal(true);
      expect(belongs(name('NotIn', 'node-1'), n)).to.equal(false);
      expect(
        belongs(affinity({ fields: [{ key: 'metadata.uid', operator: 'In', values: ['x'] }] }), n),
      ).to.equal(false);
    });
    it('ANDs the requirements of one term and ORs the terms', () => {
      const web = { key: 'tier', operator: 'In', values: ['web'] };
      const db = { key: 'tier', operator: 'In', values: ['db'] };
      const many = { key: 'gpus', operator: 'Gt', values: ['8'] };
      expect(belongs(affinity({ exprs: [web, many] }), n)).to.equal(false);
      expect(belongs(affinity({ exprs: [db] }, { exprs: [web] }), n)).to.equal(true);
      expect(
        belongs(
          affinity({ exprs: [web], fields: [{ key: 'metadata.name', operator: 'In', values: ['node-1'] }] }),
          n,
        ),
      ).to.equal(true);
      const off = placement(affinity({ exprs: [db] }, { exprs: [many] }), n);
      expect(off).to.deep.equal({
        belongs: false,
        why: 'required node affinity: no term matches (tier In db | gpus Gt 8)',
      });
    });
    it('an empty term, or no terms, matches no node', () => {
      expect(belongs(affinity({}), n)).to.equal(false);
      expect(belongs(affinity(), n)).to.equal(false);
    });
    it('ignores preferred affinity', () => {
      const s = spec({
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 1,
                preference: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] },
              },
            ],
          },
        },
      });
      expect(belongs(s, n)).to.equal(true);
    });
  });

  describe('taints and tolerations', () => {
    const gpu: V1Taint = { key: 'gpu', value: 'true', effect: 'NoSchedule' };
    it('keeps a pod off a node with an untolerated NoSchedule or NoExecute taint', () => {
      expect(placement(spec(), node({}, [gpu]))).to.deep.equal({
        belongs: false,
        why: 'taint gpu=true:NoSchedule is not tolerated',
      });
      expect(belongs(spec(), node({}, [{ key: 'drain', effect: 'NoExecute' }]))).to.equal(false);
    });
    it('ignores PreferNoSchedule', () => {
      expect(belongs(spec(), node({}, [{ key: 'soft', effect: 'PreferNoSchedule' }]))).to.equal(true);
    });
    it('Equal needs key and value (and effect when given); Exists needs the key', () => {
      const on = (tol: object) => belongs(spec({ tolerations: [tol] }), node({}, [gpu]));
      expect(on({ key: 'gpu', operator: 'Equal', value: 'true' })).to.equal(true);
      expect(on({ key: 'gpu', value: 'true', effect: 'NoSchedule' })).to.equal(true);
      expect(on({ key: 'gpu', operator: 'Equal', value: 'false' })).to.equal(false);
      expect(on({ key: 'gpu', operator: 'Equal', value: 'true', effect: 'NoExecute' })).to.equal(false);
      expect(on({ key: 'gpu', operator: 'Exists' })).to.equal(true);
      expect(on({ key: 'other', operator: 'Exists' })).to.equal(false);
    });
    it('an empty key with Exists tolerates every taint', () => {
      const all = spec({ tolerations: [{ operator: 'Exists' }] });
      expect(belongs(all, node({}, [gpu, { key: 'x', effect: 'NoExecute' }]))).to.equal(true);
      const allNoSchedule = spec({ tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }] });
      expect(belongs(allNoSchedule, node({}, [gpu]))).to.equal(true);
      expect(belongs(allNoSchedule, node({}, [{ key: 'x', effect: 'NoExecute' }]))).to.equal(false);
      expect(tolerates({ operator: 'Equal', value: '' }, { key: 'x', effect: 'NoSchedule' })).to.equal(false);
    });
    it('tolerates what the DaemonSet controller tolerates for every DaemonSet pod', () => {
      const troubles: V1Taint[] = [
        { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' },
        { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' },
        { key: 'node.kubernetes.io/disk-pressure', effect: 'NoSchedule' },
        { key: 'node.kubernetes.io/memory-pressure', effect: 'NoSchedule' },
        { key: 'node.kubernetes.io/pid-pressure', effect: 'NoSchedule' },
        { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' },
      ];
      expect(belongs(spec(), node({}, troubles))).to.equal(true);
      expect(daemonSetTolerations(false)).to.have.length(6);
    });
    it('tolerates network-unavailable only for host-network pods', () => {
      const net: V1Taint = { key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' };
      expect(belongs(spec(), node({}, [net]))).to.equal(false);
      expect(belongs(spec({ hostNetwork: true }), node({}, [net]))).to.equal(true);
    });
  });
});
