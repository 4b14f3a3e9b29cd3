import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import type { CodecEndpoint } from '../../src/api/codec';
import { buildServices, startApi } from '../../src/bootstrap';
import { type AlluseClient, createAlluseClient } from '../../src/client';
import { createLogger, silentLogger } from '../../src/infra/logger';
import { connectClient, ensureSearchAttributes } from '../../src/infra/temporal';
import type { Role } from '../../src/services/api-keys';
import { createTestDatabase } from './db';
import { type ProtocolHelpers, protocolHelpers } from './protocol';

type TestDatabase = Awaited<ReturnType<typeof createTestDatabase>>;

export interface HttpResult<T = any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- call() is the untyped way in: tests read arbitrary JSON
  status: number;
  body: T;
  headers: Headers;
}

/** What `call` may send that the typed client will not: any path and method, a raw body, no key or another key, any header. */
export interface RawRequest {
  /** JSON-encoded as given (however wrong for the route). */
  body?: unknown;
  /** Sent as is (application/json unless `headers` says otherwise). */
  raw?: string;
  /** The API key; the admin's when left out, none when null. */
  key?: string | null;
  headers?: Record<string, string>;
}

export interface TestApi {
  url: string;
  keys: Record<Role, string>;
  temporal: Client;
  /** The typed client (src/client) with the admin key. */
  client: AlluseClient;
  /** The typed client with the key of a role. */
  as(role: Role): AlluseClient;
  /** The typed client with any key (a created or revoked one, a wrong one), or none (null). */
  clientFor(key: string | null): AlluseClient;
  /**
   * The untyped way in, for what the typed client cannot say on purpose:
   * malformed or raw bodies, unknown paths, odd headers, raw query strings,
   * non-JSON answers. Ordinary calls go through `client`.
   */
  call(method: string, path: string, opts?: RawRequest): Promise<HttpResult>;
  close(): Promise<void>;
}

type UntypedRequest = (method: string, path: string, init: {
  body?: unknown;
  bodySerializer?: (body: unknown) => string;
  headers: Record<string, string | null>;
  parseAs: 'text';
}) => Promise<{ data?: unknown; error?: unknown; response: Response }>;

/**
 * An object that reads every property from `target()` when it is used, not
 * when it is destructured: `const { api, h } = useTestApi()` at a file's top
 * level, used in its tests and hooks once `beforeAll` has started them.
 */
export function late<T extends object>(name: string, target: () => T | undefined): T {
  return new Proxy({} as T, {
    get: (_, key) => {
      const t = target();
      if (!t) throw new Error(`${name} is not started: use it in a test or hook, after beforeAll`);
      return Reflect.get(t, key);
    },
  });
}

type TestApiOptions = NonNullable<Parameters<typeof startTestApi>[2]>;

/**
 * For a test file: its own database and API (no worker), started before its
 * tests and stopped after them, with the protocol helpers on the admin's key.
 */
export function useTestApi(opts: TestApiOptions = {}) {
  let db: TestDatabase | undefined;
  let api: TestApi | undefined;
  let h: ProtocolHelpers | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    api = await startTestApi(db.orm, undefined, opts);
    h = protocolHelpers(api, db.orm);
  });
  afterAll(async () => {
    await api?.close();
    await db?.close();
  });
  return { db: late('the test database', () => db), api: late('the test API', () => api), h: late('the helpers', () => h) };
}

/** The real Express app over a real database and Temporal connection, on an ephemeral port. */
export async function startTestApi(
  orm: MikroORM,
  taskQueue = 'alluse-test-unused',
  opts: {
    rateLimitPerMinute?: number; codec?: CodecEndpoint; webhookAllowedHosts?: string[]; metrics?: { token?: string; sdkAddress?: string };
    temporalUi?: { url: string; namespace: string };
  } = {},
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
  // One client per key, made once.
  const clients = new Map<string | null, AlluseClient>();
  const clientFor = (key: string | null): AlluseClient => {
    let c = clients.get(key);
    if (!c) clients.set(key, (c = createAlluseClient({ baseUrl: api.url, ...(key && { apiKey: key }) })));
    return c;
  };
  // The same client, its paths untyped: openapi-fetch sends what it is given.
  const untyped = clientFor(null).request as unknown as UntypedRequest;
  const call: TestApi['call'] = async (method, path, opts = {}) => {
    const key = opts.key === undefined ? keys.admin : opts.key;
    const { data, error, response } = await untyped(method, path, {
      ...(opts.raw !== undefined ? { body: opts.raw, bodySerializer: (b) => b as string } : opts.body !== undefined && { body: opts.body }),
      headers: { ...opts.headers, authorization: key ? `Bearer ${key}` : null },
      parseAs: 'text',
    });
    // A success comes as text (openapi-fetch has parsed a failure's JSON already): JSON when it is JSON (not the docs page, a CSV or an SVG).
    let body = response.ok ? data : error;
    if (body === '') body = undefined;
    else if (response.ok && typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        /* not JSON */
      }
    }
    return { status: response.status, body, headers: response.headers };
  };
  return {
    url: api.url,
    keys,
    temporal,
    client: clientFor(keys.admin),
    as: (role) => clientFor(keys[role]),
    clientFor,
    call,
    close: async () => {
      await api.stop();
      await temporal.connection.close();
    },
  };
}
