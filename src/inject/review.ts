// AdmissionReview v1 in, AdmissionReview v1 out. Every answer allows the pod: a request the webhook
// does not understand is allowed unchanged (outcome `invalid`) and a bug while deciding is allowed
// unchanged too (outcome `error`), so the webhook can never be the reason a pod is not created.
import { decide, type MutateSettings, type Outcome } from './mutate.js';

export type Result = Outcome | 'invalid' | 'error';

export interface Reviewed {
  /** The AdmissionReview to send back (always HTTP 200). */
  response: Record<string, unknown>;
  result: Result;
  /** Fields for the one log line. */
  log: { uid: string; namespace?: string; pod?: string; reason?: string; warnings?: string[] };
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function review(body: unknown, settings: MutateSettings): Reviewed {
  const request = isMap(body) && isMap(body.request) ? body.request : undefined;
  const uid = typeof request?.uid === 'string' ? request.uid : '';
  const answer = (result: Result, reason: string, extra: Record<string, unknown> = {}): Reviewed => ({
    response: {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid, allowed: true, ...extra },
    },
    result,
    log: { uid, reason },
  });

  if (!isMap(body) || body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') {
    return answer('invalid', 'not an admission.k8s.io/v1 AdmissionReview');
  }
  if (request === undefined || uid === '') return answer('invalid', 'AdmissionReview without request.uid');
  const kind = isMap(request.kind) ? request.kind : {};
  if (kind.group !== '' || kind.version !== 'v1' || kind.kind !== 'Pod' || request.subResource) {
    return answer('invalid', `unexpected kind ${JSON.stringify(request.kind)}: only core/v1 Pods`);
  }
  if (request.operation !== 'CREATE') {
    return answer('invalid', `unexpected operation ${JSON.stringify(request.operation)}: only CREATE`);
  }
  const object = request.object;
  const namespace =
    typeof request.namespace === 'string' && request.namespace !== ''
      ? request.namespace
      : isMap(object) && isMap(object.metadata) && typeof object.metadata.namespace === 'string'
        ? object.metadata.namespace
        : '';
  const metadata = isMap(object) && isMap(object.metadata) ? object.metadata : {};
  const pod =
    typeof metadata.name === 'string' && metadata.name !== ''
      ? metadata.name
      : typeof metadata.generateName === 'string'
        ? `${metadata.generateName}*`
        : '';
  let reviewed: Reviewed;
  try {
    const decision = decide(object, namespace, settings);
    const extra: Record<string, unknown> = {};
    if (decision.patch.length > 0) {
      extra.patchType = 'JSONPatch';
      extra.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
    }
    if (decision.warnings.length > 0) extra.warnings = decision.warnings;
    reviewed = answer(decision.outcome, decision.reason, extra);
    if (decision.warnings.length > 0) reviewed.log.warnings = decision.warnings;
  } catch (err) {
    reviewed = answer(err instanceof TypeError ? 'invalid' : 'error', (err as Error).message);
  }
  reviewed.log.namespace = namespace;
  reviewed.log.pod = pod;
  if (reviewed.log.reason === '') delete reviewed.log.reason;
  return reviewed;
}
