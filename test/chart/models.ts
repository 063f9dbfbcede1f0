// Validates rendered objects against the Kubernetes OpenAPI schemas (kubernetes-models) and the
// prometheus-operator CRDs, and gives the tests typed views of the objects they inspect.
import { PodMonitor, PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Container, Pod, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { K8sObject } from './helm.js';

type Model = new (data: never) => { validate(): void };

// Every kind the charts render. A new kind must be added here, so nothing goes unvalidated.
const models: Record<string, Model> = {
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/Deployment': Deployment,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** Throws with the object's kind and name when it does not match its schema. */
export function validateObject(obj: K8sObject): void {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const model = models[key];
  if (!model) throw new Error(`no schema known for ${key} (${obj.metadata.name}); add it to test/chart/models.ts`);
  try {
    new model(obj as never).validate();
  } catch (error) {
    throw new Error(`${obj.kind}/${obj.metadata.name} is invalid: ${(error as Error).message}`, { cause: error });
  }
}

export function validateContainer(data: unknown): Container {
  const container = new Container(data as never);
  container.validate();
  return container;
}

export function asDaemonSet(obj: K8sObject): DaemonSet {
  const ds = new DaemonSet(obj as never);
  ds.validate();
  return ds;
}

export function asDeployment(obj: K8sObject): Deployment {
  const deployment = new Deployment(obj as never);
  deployment.validate();
  return deployment;
}

export function asClusterRole(obj: K8sObject): ClusterRole {
  const role = new ClusterRole(obj as never);
  role.validate();
  return role;
}

export function asPod(obj: K8sObject): Pod {
  const pod = new Pod(obj as never);
  pod.validate();
  return pod;
}

/** The values following each occurrence of `flag` in an args list (`--check a --check b` → [a, b]). */
export function flagValues(args: readonly string[] | undefined, flag: string): string[] {
  const values: string[] = [];
  (args ?? []).forEach((arg, i) => {
    const next = args?.[i + 1];
    if (arg === flag && next !== undefined) values.push(next);
  });
  return values;
}

export function flagValue(args: readonly string[] | undefined, flag: string): string | undefined {
  const values = flagValues(args, flag);
  if (values.length > 1) throw new Error(`${flag} given ${values.length} times`);
  return values[0];
}
