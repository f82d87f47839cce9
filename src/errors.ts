/**
 * One error class for the whole project. Every failure carries a stable `code` that scripts and the appliance's
 * API can match on, a message that tells the user what to do next, and an optional `cause` chain.
 */
export type ErrorCode =
  | 'USAGE'
  | 'SPEC_INVALID'
  | 'REFERENCE_INVALID'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_UNAUTHORIZED'
  | 'REGISTRY_ERROR'
  | 'MANIFEST_UNKNOWN'
  | 'MANIFEST_UNSUPPORTED'
  | 'BLOB_UNKNOWN'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'PLATFORM_NOT_FOUND'
  | 'GIT_ERROR'
  | 'MANIFESTS_INVALID'
  | 'RENDER_FAILED'
  | 'CHART_FAILED'
  | 'TOOL_MISSING'
  | 'KEY_INVALID'
  | 'TRUST_ROOT_INVALID'
  | 'SIGNATURE_INVALID'
  | 'THRESHOLD_NOT_MET'
  | 'EXPIRED'
  | 'TRUST_ROOT_EXPIRED'
  | 'CHANNEL_MISMATCH'
  | 'ROLLBACK'
  | 'BASE_MISSING'
  | 'BASE_MISMATCH'
  | 'PART_MISSING'
  | 'PART_INVALID'
  | 'KUBE_CONFLICT'
  | 'KUBE_INVALID'
  | 'KUBE_ERROR'
  | 'KUBE_UNREACHABLE'
  | 'KUBE_UNHEALTHY'
  | 'SITE_INVALID'
  | 'PLAN_INVALID'
  | 'TAG_OWNED'
  | 'INSUFFICIENT_STORAGE'
  | 'UPLOAD_INCOMPLETE'
  | 'PATH_REFUSED'
  | 'APPLIANCE_UNREACHABLE'
  | 'BUNDLE_CORRUPT'
  | 'BUNDLE_TRUNCATED'
  | 'BUNDLE_UNSAFE_ENTRY'
  | 'NOT_FOUND'
  | 'IO_ERROR';

export class AirlockError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AirlockError';
    this.code = code;
  }
}

export function isAirlockError(err: unknown, code?: ErrorCode): err is AirlockError {
  return err instanceof AirlockError && (code === undefined || err.code === code);
}

/** The message of any thrown value, for one-line reports. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
