/**
 * A client of the engine that, like a caller behind a load balancer, sends
 * each request to its own API process first and, when that process does not
 * answer at all (connection refused or reset: it was killed), sends the same
 * request to the next one. Only transport failures are retried: any HTTP
 * answer, a 409 or a 5xx too, is the answer.
 */
import { type AlluseClient, createAlluseClient } from '../../src/client';

/**
 * A typed client over `urls`, starting at `urls[first]`; `onFailover` hears
 * of every request sent again to another process.
 */
export function failoverClient(urls: string[], first: number, apiKey: string, onFailover: (what: string) => void): AlluseClient {
  const base = urls[first]!;
  return createAlluseClient({
    baseUrl: base,
    apiKey,
    userAgent: 'alluse-production-test',
    fetch: async (request: Request): Promise<Response> => {
      const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer();
      const path = request.url.slice(base.length);
      let lastError: unknown;
      for (let i = 0; i < urls.length; i++) {
        const target = urls[(first + i) % urls.length]!;
        try {
          return await fetch(`${target}${path}`, { method: request.method, headers: request.headers, body });
        } catch (err) {
          lastError = err;
          onFailover(`${request.method} ${path} at ${target}: ${String((err as Error).cause ?? err)}`);
        }
      }
      throw lastError;
    },
  });
}
