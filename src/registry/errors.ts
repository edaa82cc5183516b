import { HttpError, errorDetail, type HttpRequest, type HttpResponse } from '../http/client';
import { parseChallenges } from './challenge';

interface ErrorBody {
  errors?: { code?: string; message?: string; detail?: unknown }[];
  error?: string;
  error_description?: string;
}

/**
 * A registry's error answer, with the code of its `{"errors":[{code,message}]}` body (MANIFEST_UNKNOWN,
 * DENIED, UNAUTHORIZED, UNKNOWN, ...) so callers can tell "not there" from "not allowed" and say what to fix.
 * It is an HttpError, so `httpRetryDecision` retries it when the status is 429/5xx.
 */
export class RegistryError extends HttpError {
  /** The first error code of the body (or the OAuth `error`), undefined when the body has none. */
  readonly code: string | undefined;
  readonly codes: string[];
  /** The registry's own words, e.g. "The operation is disallowed.". */
  readonly registryMessage: string | undefined;

  constructor(request: Pick<HttpRequest, 'method' | 'url'>, response: HttpResponse, message?: string) {
    super(request, response, errorDetail(response));
    this.name = 'RegistryError';
    const body = parseBody(response);
    this.codes = body?.errors?.map((e) => e.code ?? '').filter(Boolean) ?? (body?.error ? [body.error] : []);
    this.code = this.codes[0];
    this.registryMessage = body?.errors?.[0]?.message ?? body?.error_description ?? undefined;
    if (message) this.message = message;
    else if (response.status === 401) {
      // A 401 that survived a fresh token for exactly the scope asked for means the identity lacks that right.
      const challenge = parseChallenges(response.headers.get('www-authenticate') ?? '').find((c) => c.scheme === 'bearer');
      if (challenge?.params.error === 'insufficient_scope') {
        this.message += ` (the registry granted this identity no ${challenge.params.scope ?? 'access'}: insufficient_scope)`;
      }
    }
  }
}

function parseBody(response: HttpResponse): ErrorBody | undefined {
  try {
    const body = response.json<ErrorBody>();
    return body && typeof body === 'object' ? body : undefined;
  } catch {
    return undefined;
  }
}

/** Throws a RegistryError unless the status is one of the expected ones. */
export function expectRegistryStatus(request: Pick<HttpRequest, 'method' | 'url'>, response: HttpResponse, ...ok: number[]): HttpResponse {
  if (ok.includes(response.status)) return response;
  throw new RegistryError(request, response);
}

/** The bytes did not hash to the digest they were asked for by. */
export class DigestMismatchError extends Error {
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${what}: the registry sent content whose digest is ${actual}, not ${expected}; refusing it.`);
    this.name = 'DigestMismatchError';
  }
}
