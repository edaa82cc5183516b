// @azure/identity's requests (Entra ID, IMDS) through the task's HttpClient, so they take the agent's proxy and
// certificates like every other request of the tasks (the SDK's own client knows neither the bypass list nor Agent.CAInfo).
import type { TokenCredentialOptions } from '@azure/identity';
import type { HttpClient } from '../http/client';
import { createHttpHeaders } from './sdk';

type IdentityHttpClient = NonNullable<TokenCredentialOptions['httpClient']>;

export function identityHttpClient(http: HttpClient): IdentityHttpClient {
  return {
    sendRequest: async (request) => {
      const body = request.body;
      if (body !== undefined && body !== null && typeof body !== 'string' && !Buffer.isBuffer(body)) {
        throw new Error(
          `@azure/identity sent a request body of a kind the task's HTTP client does not send (${request.method} ${request.url}).`,
        );
      }
      const response = await http({
        method: request.method,
        url: request.url,
        headers: request.headers.toJSON(),
        body: body ?? undefined,
        timeoutMs: request.timeout || undefined,
      });
      const headers = createHttpHeaders();
      response.headers.forEach((value, name) => headers.set(name, value));
      return { request, status: response.status, headers, bodyAsText: response.text() };
    },
  };
}
