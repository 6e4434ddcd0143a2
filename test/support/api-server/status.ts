/**
 * API errors travel as `Status` objects with a machine-readable `reason`.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#api-errors (and
 * k8s.io/apimachinery/pkg/api/errors for the reason/code pairs).
 */
export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'Expired'
  | 'MethodNotAllowed'
  | 'UnsupportedMediaType'
  | 'InternalError'
  | 'ServiceUnavailable';

const CODES: Record<StatusReason, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  AlreadyExists: 409,
  Conflict: 409,
  Invalid: 422,
  Expired: 410,
  MethodNotAllowed: 405,
  UnsupportedMediaType: 415,
  InternalError: 500,
  ServiceUnavailable: 503,
};

export class ApiError extends Error {
  readonly code: number;
  constructor(
    readonly reason: StatusReason,
    message: string,
    readonly details: { name?: string; kind?: string; group?: string } = {},
    code?: number,
  ) {
    super(message);
    this.code = code ?? CODES[reason];
  }

  toStatus(): Record<string, unknown> {
    return statusObject(this.code, this.reason, this.message, this.details);
  }
}

export function statusObject(
  code: number,
  reason: string,
  message: string,
  details: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(Object.keys(details).length > 0 ? { details } : {}),
    code,
  };
}
