import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { buildServices, startApi } from '../../src/bootstrap';
import { createLogger, silentLogger } from '../../src/infra/logger';
import { connectClient, ensureSearchAttributes } from '../../src/infra/temporal';
import type { Role } from '../../src/services/api-keys';

export interface HttpResult<T = any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  status: number;
  body: T;
  headers: Headers;
}

export interface TestApi {
  url: string;
  keys: Record<Role, string>;
  temporal: Client;
  call(method: string, path: string, opts?: { body?: unknown; raw?: string; key?: string | null; headers?: Record<string, string> }): Promise<HttpResult>;
  close(): Promise<void>;
}

/** The real Express app over a real database and Temporal connection, on an ephemeral port. */
export async function startTestApi(
  orm: MikroORM,
  taskQueue = 'alluse-test-unused',
  opts: { rateLimitPerMinute?: number; codec?: { codec: PayloadCodec; uiOrigins: string[] }; webhookAllowedHosts?: string[]; metrics?: { token?: string; sdkAddress?: string } } = {},
): Promise<TestApi> {
  const { webhookAllowedHosts, ...apiOpts } = opts;
  const temporal = await connectClient(process.env.ALLUSE_TEST_TEMPORAL_ADDRESS!, 'default', opts.codec?.codec);
  await ensureSearchAttributes(temporal, 'default', silentLogger);
  const services = buildServices(orm, temporal, { taskQueue, webhookAllowedHosts });
  const api = await startApi({ orm, services, temporal, host: '127.0.0.1', port: 0, log: process.env.ALLUSE_TEST_LOG ? createLogger('api', 'debug') : silentLogger, ...apiOpts });
  const keys = {} as Record<Role, string>;
  for (const role of ['viewer', 'operator', 'admin'] as const) {
    keys[role] = (await services.apiKeys.create(`test ${role}`, role, 'test')).key;
  }
  const call: TestApi['call'] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    const key = opts.key === undefined ? keys.admin : opts.key;
    if (key) headers.authorization = `Bearer ${key}`;
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const res = await fetch(`${api.url}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* non-JSON body (the docs page) */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    url: api.url,
    keys,
    temporal,
    call,
    close: async () => {
      await api.stop();
      await temporal.connection.close();
    },
  };
}
