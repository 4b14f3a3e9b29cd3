/**
 * The HTTP posting load of `npm run bench`, run in a process of its own so the
 * client's work (building requests, parsing answers) does not share the API's
 * event loop, as a real caller's would not. Reads one JSON argument:
 * `{ url, key, accountIds, total, concurrency, prefix }`, posts `total`
 * premiums of 1.00 round-robin over the accounts with `concurrency` in
 * flight, and prints the measurement as one JSON line on stdout.
 */
import { createAlluseClient, ok } from '../src/client';
import { measure } from './stats';

interface LoadSpec { url: string; key: string; accountIds: string[]; total: number; concurrency: number; prefix: string }

async function run(spec: LoadSpec): Promise<void> {
  const http = createAlluseClient({ baseUrl: spec.url, apiKey: spec.key, userAgent: 'alluse-bench' });
  const measured = await measure(spec.total, spec.concurrency, async (i) => {
    await ok(http.POST('/v1/accounts/{id}/activity', {
      params: { path: { id: spec.accountIds[i % spec.accountIds.length]! }, header: { 'idempotency-key': `${spec.prefix}-${i}` } },
      body: { type: 'premium', amount: '1.00' },
    }));
  });
  process.stdout.write(`${JSON.stringify(measured)}\n`);
}

run(JSON.parse(process.argv[2]!) as LoadSpec).catch((err: unknown) => {
  process.stderr.write(`http-load: ${String(err)}\n`);
  process.exit(1);
});
