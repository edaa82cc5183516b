// The token requests ACR sign-in and the registry token flow both send: one form POST, one retry-with-warning
// around it, and ACR's refresh_token grant written once.
import { type HttpClient, type HttpRequest, type HttpResponse, httpRetryDecision } from '../http/client';
import type { Logger } from '../log';
import { type RetryPolicy, retry } from '../util/retry';
import { RegistryError } from './errors';

/** A POST of an application/x-www-form-urlencoded body that asks for JSON back. */
export function formPost(url: string, form: URLSearchParams): HttpRequest {
  return {
    method: 'POST',
    url,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: form.toString(),
  };
}

/** ACR's documented form for trading an ACR refresh token for an access token (docs/AAD-OAuth.md). */
export function refreshTokenGrant(
  realm: string,
  service: string | undefined,
  scopes: readonly string[],
  refreshToken: string,
): HttpRequest {
  const form = new URLSearchParams({ grant_type: 'refresh_token' });
  if (service) form.set('service', service);
  for (const scope of scopes) form.append('scope', scope);
  form.set('refresh_token', refreshToken);
  return formPost(realm, form);
}

export interface TokenRequestOptions {
  http: HttpClient;
  retry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  logger?: Logger;
}

/**
 * Sends a token request until it is answered 200, retrying what httpRetryDecision calls transient with a warning
 * that names `what`; any other answer throws a RegistryError (with `refusal` as its message when given).
 */
export function sendTokenRequest(
  request: HttpRequest,
  what: string,
  options: TokenRequestOptions,
  refusal?: (response: HttpResponse) => string,
): Promise<HttpResponse> {
  return retry(
    async () => {
      const response = await options.http(request);
      if (response.status === 200) return response;
      throw new RegistryError(request, response, refusal?.(response));
    },
    {
      policy: options.retry,
      sleep: options.sleep,
      shouldRetry: httpRetryDecision,
      onRetry: ({ attempt, delayMs, reason }) =>
        options.logger?.warn(`${what} answered ${reason}; trying again in ${Math.round(delayMs / 100) / 10} s (attempt ${attempt + 1}).`),
    },
  );
}
