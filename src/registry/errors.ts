import { OcibuildError, type ErrorCode } from '../errors.js';

/** One entry of a Distribution API error body (`{"errors":[{code,message,detail}]}`). */
export interface DistributionError {
  code: string;
  message: string;
  detail?: unknown;
}

/** What a registry error carries in `details`. */
export interface RegistryErrorDetails {
  status: number;
  errors: DistributionError[];
  /** Request URL with credentials and query values removed. */
  url: string;
  method: string;
}

const SECRET_QUERY_KEYS = /^(?:_state|token|access_token|refresh_token|password|secret|signature|x-amz-.*|x-goog-.*|sig|se|sp|sv|sr|skoid|sktid|skt|ske|sks|skv|credential|key|expires|policy|key-pair-id)$/i;

/**
 * A URL safe to print: user info removed and the value of every query
 * parameter that may hold a secret (upload state, pre-signed URL signatures,
 * tokens) replaced by `REDACTED`.
 */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    return '<invalid url>';
  }
  u.username = '';
  u.password = '';
  const params = [...u.searchParams.keys()];
  for (const key of new Set(params)) {
    if (SECRET_QUERY_KEYS.test(key)) u.searchParams.set(key, 'REDACTED');
  }
  return u.toString();
}

/** Parse a Distribution error body; tolerant of anything (HTML error pages, empty bodies). */
export function parseDistributionErrors(body: string): DistributionError[] {
  if (!body) return [];
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object') {
      const errors = (parsed as { errors?: unknown }).errors;
      if (Array.isArray(errors)) {
        return errors
          .filter((e): e is Record<string, unknown> => !!e && typeof e === 'object')
          .map((e) => ({
            code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
            message: typeof e.message === 'string' ? e.message : '',
            ...(e.detail !== undefined ? { detail: e.detail } : {}),
          }));
      }
      // Token servers answer {"details": "..."} or {"error": "..."}.
      const msg = (parsed as { details?: unknown; error?: unknown; message?: unknown });
      const text = [msg.error, msg.details, msg.message].find((v) => typeof v === 'string') as string | undefined;
      if (text) return [{ code: 'UNKNOWN', message: text }];
    }
  } catch {
    // not JSON
  }
  return [];
}

/** The error code for an HTTP status from a registry. */
export function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'REGISTRY_UNAUTHORIZED';
  if (status === 403) return 'REGISTRY_DENIED';
  if (status === 404) return 'REGISTRY_NOT_FOUND';
  return 'REGISTRY_ERROR';
}

/**
 * Build the OcibuildError for a failed registry response: the Distribution
 * error codes and messages in the text, status and redacted URL in `details`.
 */
export function registryError(
  what: string,
  method: string,
  url: string | URL,
  status: number,
  body: string,
  cause?: unknown,
  /**
   * Where the credentials sent came from (`--creds`, a config file, a
   * credential helper): a 401 then says they were rejected, never what they are.
   */
  credentialsSource?: string,
): OcibuildError {
  const errors = parseDistributionErrors(body);
  const code = codeForStatus(status);
  const reasons = errors.length
    ? errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join('; ')
    : `HTTP ${status}`;
  const details: RegistryErrorDetails = { status, errors, url: redactUrl(url), method };
  const rejected = code === 'REGISTRY_UNAUTHORIZED' && credentialsSource !== undefined;
  const hint = rejected
    ? `check the user name and password from ${credentialsSource} (or log in again); they are not printed`
    : code === 'REGISTRY_UNAUTHORIZED'
      ? 'log in to the registry (docker login / credentials in $DOCKER_CONFIG/config.json) or pass credentials'
      : undefined;
  const why = rejected ? `the registry rejected the credentials from ${credentialsSource}: ${reasons}` : reasons;
  if (rejected) (details as RegistryErrorDetails & { credentialsSource?: string }).credentialsSource = credentialsSource;
  return new OcibuildError(code, `${what}: ${why} (${method} ${details.url}, HTTP ${status})`, {
    details: details as unknown as Record<string, unknown>,
    ...(hint ? { hint } : {}),
    ...(cause !== undefined ? { cause } : {}),
  });
}
