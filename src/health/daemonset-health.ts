// `startup-lock health`: is every DaemonSet that belongs on this node running here? Keeps three live
// copies (DaemonSets, this node's pods, the Node itself, each list+watch) and recomputes the verdict on
// every change. It judges the pods on this node, never the cluster-wide DaemonSet status counters, which
// lag on a newly joined node. A full relist runs every --failHc while unhealthy, --passHc while healthy.
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1DaemonSet,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import type { AccessDeniedError, ApiCallError } from '../kube/api-error.js';
import { requestTimeout } from '../kube/kube-config.js';
import { placement } from './placement.js';
import { isRunningAndReady } from '../kube/pods.js';
import { Reflector, type KubeObject } from '../kube/reflector.js';

/** A DaemonSet carrying this label (value "true") is never waited for. */
export const SKIP_LABEL = 'startup-lock/skip-health';

export interface DaemonSetHealthOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  /** Empty: every namespace. */
  namespace: string;
  /** Only DaemonSets on the host network. */
  hostNet: boolean;
  /** `label:value` pairs: only DaemonSets with one of them (empty: all). */
  include: readonly string[];
  /** `label:value` pairs: DaemonSets with one of them are skipped. */
  exclude: readonly string[];
  /** The lock's own DaemonSet; selfNamespace empty matches the name in any namespace. */
  selfName: string;
  selfNamespace: string;
  failResyncMs: number;
  passResyncMs: number;
  clock: Clock;
  log: Logger;
  requestTimeoutMs?: number;
}

export type Skip = 'self' | 'skip-label' | 'not-host-network' | 'not-included' | 'excluded';

export interface DaemonSetVerdict {
  namespace: string;
  name: string;
  /** Set when the DaemonSet is left out by the options or labels. */
  skipped?: Skip;
  /** Its pod template belongs on this node (undefined when skipped). */
  belongs?: boolean;
  /** Why it does not belong. */
  why?: string;
  /** Its pod on this node, if any. */
  pod?: string;
  phase?: string;
  ready: boolean;
  /** Counts against the node: belongs here and its pod is not Running and Ready. */
  failing: boolean;
}

export interface HealthReport {
  healthy: boolean;
  /** One short line: why not healthy, or a summary. */
  reason: string;
  node: string;
  /** The API error keeping the answer from being known, if any. */
  apiError?: string;
  daemonSets: DaemonSetVerdict[];
}

export class DaemonSetHealth {
  private readonly daemonSets: Reflector<V1DaemonSet>;
  private readonly pods: Reflector<V1Pod>;
  private readonly nodes: Reflector<V1Node>;
  private current: HealthReport;
  private resync?: TimerHandle;
  private scheduled = false;
  private running = false;

  constructor(private readonly options: DaemonSetHealthOptions) {
    const { kubeConfig, nodeName, namespace, clock, log } = options;
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const timeout = requestTimeout(options.requestTimeoutMs ?? 10_000);
    const ns = namespace === '' ? undefined : namespace;
    const common = {
      kubeConfig,
      clock,
      log,
      onChange: () => this.changed(),
      onSynced: () => this.changed(),
      onHealth: (error: AccessDeniedError | ApiCallError | null) => {
        if (error) log.warn({ err: error.message }, 'health: cannot read from the Kubernetes API; retrying');
        else log.info('health: Kubernetes API reachable again');
        this.changed();
      },
    };
    const podSelector = `spec.nodeName=${nodeName}`;
    const nodeSelector = `metadata.name=${nodeName}`;
    this.daemonSets = new Reflector<V1DaemonSet>({
      ...common,
      resource: 'daemonsets.apps',
      namespace: ns,
      path: ns ? `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/daemonsets` : '/apis/apps/v1/daemonsets',
      list: () =>
        ns
          ? apps.listNamespacedDaemonSet({ namespace: ns }, timeout)
          : apps.listDaemonSetForAllNamespaces({}, timeout),
    });
    this.pods = new Reflector<V1Pod>({
      ...common,
      resource: 'pods',
      namespace: ns,
      path: ns ? `/api/v1/namespaces/${encodeURIComponent(ns)}/pods` : '/api/v1/pods',
      fieldSelector: podSelector,
      list: () =>
        ns
          ? core.listNamespacedPod({ namespace: ns, fieldSelector: podSelector }, timeout)
          : core.listPodForAllNamespaces({ fieldSelector: podSelector }, timeout),
    });
    // The Node is watched too: its labels and taints decide placement and may change at any time.
    this.nodes = new Reflector<V1Node>({
      ...common,
      resource: 'nodes',
      path: '/api/v1/nodes',
      fieldSelector: nodeSelector,
      list: () => core.listNode({ fieldSelector: nodeSelector }, timeout),
    });
    this.current = this.compute();
  }

  start(): void {
    this.running = true;
    for (const r of this.reflectors()) r.start();
    this.armResync();
  }

  stop(): void {
    this.running = false;
    this.resync?.cancel();
    for (const r of this.reflectors()) r.stop();
  }

  report(): HealthReport {
    return this.current;
  }

  /** Every copy has been listed once (the answer means something). */
  get synced(): boolean {
    return this.reflectors().every((r) => r.synced);
  }

  private reflectors(): Reflector<KubeObject>[] {
    return [this.daemonSets, this.pods, this.nodes] as Reflector<KubeObject>[];
  }

  /** Coalesce a burst of watch events (a relist delivers many) into one recomputation. */
  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (!this.running) return;
      const before = this.current;
      this.current = this.compute();
      if (before.healthy !== this.current.healthy || before.reason !== this.current.reason) {
        const line = { node: this.options.nodeName, reason: this.current.reason };
        if (this.current.healthy) this.options.log.info(line, 'health: OK');
        else this.options.log.info(line, 'health: failing');
        if (before.healthy !== this.current.healthy) this.armResync();
      }
    });
  }

  private armResync(): void {
    this.resync?.cancel();
    const { failResyncMs, passResyncMs, clock } = this.options;
    this.resync = clock.setTimer(this.current.healthy ? passResyncMs : failResyncMs, () => {
      if (!this.running) return;
      for (const r of this.reflectors()) r.relist();
      this.armResync();
    });
  }

  private compute(): HealthReport {
    const node = this.options.nodeName;
    const fail = (reason: string, apiError?: string, daemonSets: DaemonSetVerdict[] = []): HealthReport => ({
      healthy: false,
      reason,
      node,
      ...(apiError ? { apiError } : {}),
      daemonSets,
    });
    const error = this.reflectors()
      .map((r) => r.lastError)
      .find((e) => e !== null);
    if (error) return fail(`Kubernetes API: ${error.message}`, error.message);
    const waiting = (
      [
        [this.daemonSets, 'DaemonSets'],
        [this.pods, 'pods'],
        [this.nodes, 'the node'],
      ] as const
    ).find(([r]) => !r.synced);
    if (waiting) return fail(`waiting for the first list of ${waiting[1]}`);
    const nodeObj = this.nodes.get(undefined, node) ?? this.nodes.items()[0];
    if (nodeObj === undefined) return fail(`node ${node} not found`);

    const pods = this.pods.items();
    const verdicts = this.daemonSets
      .items()
      .map((ds) => this.judge(ds, nodeObj, pods))
      .sort((a, b) => (a.namespace + '/' + a.name < b.namespace + '/' + b.name ? -1 : 1));
    const failing = verdicts.filter((v) => v.failing);
    if (failing.length > 0) {
      const first = failing[0] as DaemonSetVerdict;
      const more = failing.length > 1 ? ` (and ${failing.length - 1} more)` : '';
      const what = first.pod
        ? `pod ${first.pod} is ${first.phase ?? 'Unknown'}${first.phase === 'Running' ? ', not Ready' : ''}`
        : 'no pod on this node yet';
      return fail(`DaemonSet ${first.namespace}/${first.name}: ${what}${more}`, undefined, verdicts);
    }
    const counted = verdicts.filter((v) => v.belongs).length;
    return { healthy: true, reason: `${counted} DaemonSet(s) ready on ${node}`, node, daemonSets: verdicts };
  }

  private judge(ds: V1DaemonSet, node: V1Node, pods: V1Pod[]): DaemonSetVerdict {
    const namespace = ds.metadata?.namespace ?? '';
    const name = ds.metadata?.name ?? '';
    const base = { namespace, name, ready: false, failing: false };
    const skipped = this.skipReason(ds);
    if (skipped) return { ...base, skipped };
    const place = placement(ds.spec?.template?.spec, node);
    if (!place.belongs) return { ...base, belongs: false, why: place.why };
    const uid = ds.metadata?.uid;
    const own = pods.filter((p) => (p.metadata?.ownerReferences ?? []).some((o) => o.uid === uid));
    // During a rolling update two pods may exist here; a Running, Ready one is enough.
    const pod = own.find(isRunningAndReady) ?? own[0];
    if (pod === undefined) return { ...base, belongs: true, failing: true };
    const ready = isRunningAndReady(pod);
    const verdict: DaemonSetVerdict = {
      ...base,
      belongs: true,
      pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`,
      ready,
      failing: !ready,
    };
    if (pod.status?.phase) verdict.phase = pod.status.phase;
    return verdict;
  }

  private skipReason(ds: V1DaemonSet): Skip | undefined {
    const { selfName, selfNamespace, hostNet, include, exclude } = this.options;
    const labels = ds.metadata?.labels ?? {};
    const name = ds.metadata?.name;
    if (
      selfName !== '' &&
      name === selfName &&
      (selfNamespace === '' || ds.metadata?.namespace === selfNamespace)
    ) {
      return 'self';
    }
    if (labels[SKIP_LABEL] === 'true') return 'skip-label';
    if (hostNet && ds.spec?.template?.spec?.hostNetwork !== true) return 'not-host-network';
    const has = (pair: string) => {
      const i = pair.indexOf(':');
      return labels[pair.slice(0, i)] === pair.slice(i + 1);
    };
    if (include.length > 0 && !include.some(has)) return 'not-included';
    if (exclude.some(has)) return 'excluded';
    return undefined;
  }
}
