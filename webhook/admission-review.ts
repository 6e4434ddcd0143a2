import { BadInputError } from '../shared/errors.js';
import { isRecord } from '../shared/is-record.js';

/**
 * The slice of admission.k8s.io/v1 AdmissionReview the webhook reads and writes.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
 */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** base64 of the JSON patch */
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string; reason?: string };
}

export interface AdmissionReview {
  apiVersion: string;
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

// v1beta1 has the same request/response fields; the response must echo the request's
// apiVersion, so both are accepted and echoed.
const API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'];

/** Validates the envelope; throws BadInputError with what is wrong (answered with 400). */
export function parseReview(body: unknown): { apiVersion: string; request: AdmissionRequest } {
  if (!isObject(body)) throw new BadInputError('request body is not a JSON object');
  const { apiVersion, kind, request } = body;
  if (kind !== 'AdmissionReview' || typeof apiVersion !== 'string') {
    throw new BadInputError('expected kind AdmissionReview', { kind, apiVersion });
  }
  if (!API_VERSIONS.includes(apiVersion)) {
    throw new BadInputError(`unsupported AdmissionReview apiVersion ${apiVersion}`, {
      apiVersion,
    });
  }
  if (!isObject(request)) throw new BadInputError('AdmissionReview has no request');
  if (typeof request.uid !== 'string' || request.uid === '') {
    throw new BadInputError('AdmissionReview request has no uid');
  }
  if (!isObject(request.kind) || typeof request.operation !== 'string') {
    throw new BadInputError('AdmissionReview request has no kind or operation');
  }
  return { apiVersion, request: request as unknown as AdmissionRequest };
}

export function reviewResponse(apiVersion: string, response: AdmissionResponse): AdmissionReview {
  return { apiVersion, kind: 'AdmissionReview', response };
}

/** The webhook's readers call it isObject. */
export const isObject = isRecord;
