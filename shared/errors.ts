import type { ErrorCode } from './error-codes.js';

/**
 * Every error detour raises on purpose is a DetourError with a stable `code`, so that
 * logs, tests and users can match on the code rather than the wording (the undici and
 * fastify convention: `UND_ERR_*`, `FST_ERR_*`).
 *
 * Messages name the field and the offending value; `details` carries the same facts as
 * data for structured logs.
 */
export type DetourErrorCode = ErrorCode;

export class DetourError extends Error {
  readonly code: DetourErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: DetourErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** An annotation on a Pod (or Namespace) holds a value detour cannot use. */
export class BadAnnotationError extends DetourError {
  constructor(annotation: string, value: string, reason: string) {
    super(
      'DETOUR_E_BAD_ANNOTATION',
      `annotation ${annotation}: invalid value ${JSON.stringify(value)}: ${reason}`,
      { annotation, value, reason },
    );
  }
}

/**
 * Every bad annotation of one object, reported together (same code), so that one
 * round of fixes is enough; the message is theirs joined by `; `.
 */
export class BadAnnotationsError extends DetourError {
  readonly errors: readonly BadAnnotationError[];

  constructor(errors: readonly BadAnnotationError[]) {
    super('DETOUR_E_BAD_ANNOTATION', errors.map((e) => e.message).join('; '), {
      annotations: errors.map((e) => e.details),
    });
    this.errors = errors;
  }
}

/** One error for a list of bad annotations: the error itself when there is only one. */
export function annotationsError(
  errors: readonly BadAnnotationError[],
): BadAnnotationError | BadAnnotationsError | undefined {
  if (errors.length <= 1) return errors[0];
  return new BadAnnotationsError(errors);
}

/** An environment knob (HOSTS_ANNOTATION, CLIENT_MAX_BODY_SIZE, ...) is invalid. */
export class BadKnobError extends DetourError {
  constructor(knob: string, value: string, reason: string) {
    super('DETOUR_E_BAD_KNOB', `${knob}=${JSON.stringify(value)} is invalid: ${reason}`, {
      knob,
      value,
      reason,
    });
  }
}

/** A command-line flag is missing or invalid. */
export class BadFlagError extends DetourError {
  constructor(flag: string, value: string | undefined, reason: string) {
    super(
      'DETOUR_E_BAD_FLAG',
      value === undefined
        ? `flag ${flag}: ${reason}`
        : `flag ${flag}: invalid value ${JSON.stringify(value)}: ${reason}`,
      { flag, value, reason },
    );
  }
}

/** Input documents (YAML, AdmissionReview, route sources) that cannot be used. */
export class BadInputError extends DetourError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('DETOUR_E_BAD_INPUT', message, details, options);
  }
}

export function isDetourError(err: unknown): err is DetourError {
  return err instanceof DetourError;
}

/** The message of anything thrown, for logs; never throws itself. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
