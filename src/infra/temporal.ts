import { Client, type ClientOptions, Connection } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import { SEARCH_ATTRIBUTE_NAMES } from '../shared/operations';
import type { Logger } from './logger';
import { requestIdClientInterceptor } from './temporal-interceptors';

/** Custom search attributes (all Keyword) the engine sets on every run, so operators can filter in the UI and CLI. */
export const SEARCH_ATTRIBUTES = Object.values(SEARCH_ATTRIBUTE_NAMES);

const INDEXED_VALUE_TYPE_KEYWORD = 2;

/** A client whose workflow starts, signals, updates and queries carry the current API request's id (header `alluse-request-id`). */
export async function connectClient(address: string, namespace: string, codec?: PayloadCodec): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, ...engineClientOptions(namespace, codec) });
}

/**
 * A client like `connectClient`'s over the connection of a worker in this
 * process. Eager workflow start needs it: the SDK asks for it only on a
 * NativeConnection a worker shares, and the server then returns the run's
 * first workflow task with the start for that worker to run at once. Closed
 * with the worker (the worker closes its connection when it stops).
 */
export function eagerStartClient(connection: NativeConnection, namespace: string, codec?: PayloadCodec): Client {
  return new Client({ connection, ...engineClientOptions(namespace, codec) });
}

function engineClientOptions(namespace: string, codec?: PayloadCodec): Omit<ClientOptions, 'connection'> {
  return { namespace, dataConverter: codec ? { payloadCodecs: [codec] } : undefined, interceptors: { workflow: [requestIdClientInterceptor] } };
}

/** Registers the engine's search attributes when missing; a no-op when they exist. */
export async function ensureSearchAttributes(client: Client, namespace: string, log: Logger): Promise<void> {
  const op = client.connection.operatorService;
  const existing = await op.listSearchAttributes({ namespace });
  const have = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = SEARCH_ATTRIBUTES.filter((k) => !have.has(k));
  if (missing.length === 0) return;
  await op.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((k) => [k, INDEXED_VALUE_TYPE_KEYWORD])),
  });
  log.info('registered Temporal search attributes', { missing });
}

/** Readiness probe: true when the frontend answers. */
export async function temporalReady(client: Client): Promise<boolean> {
  try {
    await client.connection.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  }
}

