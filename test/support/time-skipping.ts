import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Connection } from '@temporalio/client';
// The flag that gives a Connection its `testService` (time skipping). Not in the package's index, but it is
// what TestWorkflowEnvironment.createTimeSkipping passes itself; @temporalio/* is pinned, so it cannot move.
import { type InternalConnectionOptions, InternalConnectionOptionsSymbol } from '@temporalio/client/lib/connection';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { acceptsConnections } from '../../src/infra/port-check';
import { spawnOwned, stopChild } from '../../src/infra/temporal-dev-server';
import { freePort, retryOnPortClash } from './ports';

/** The Java time-skipping test server: TEMPORAL_TEST_SERVER, else the one `npm install` put in .tools/. */
export function testServerPath(): string {
  const path = process.env.TEMPORAL_TEST_SERVER ?? resolve(__dirname, '../../.tools/venv/bin/temporal-test-server');
  if (!existsSync(path)) throw new Error(`time-skipping test server not found at ${path}: run npm install (or set TEMPORAL_TEST_SERVER)`);
  return path;
}

/** Generous: the server is up in about a second when idle, but a loaded 2-core machine can take many times that. */
const READY_TIMEOUT_MS = 90_000;

/**
 * TestWorkflowEnvironment.createTimeSkipping() gives the server a fixed 5 s
 * to answer (hard-coded in sdk-core, no option in @temporalio/testing 1.24),
 * which a busy machine misses. So the server is started here and awaited
 * with a generous deadline (on a fresh port if the chosen one was taken in
 * the meantime), and the environment attached to it with time skipping on,
 * exactly as createTimeSkipping() would have built it.
 */
export async function startTimeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  const server = testServerPath();
  return retryOnPortClash(async () => {
    const port = await freePort('0.0.0.0'); // the server binds all interfaces
    const child = spawnOwned(server, [String(port)]);
    try {
      const address = `127.0.0.1:${port}`;
      await waitUntilServing(child, address);
      return await ExternalTimeSkippingEnvironment.attach(address, child);
    } catch (err) {
      await stopChild(child);
      throw err;
    }
  });
}

class ExternalTimeSkippingEnvironment extends TestWorkflowEnvironment {
  private child!: ChildProcess;

  static async attach(address: string, child: ChildProcess): Promise<ExternalTimeSkippingEnvironment> {
    const options: InternalConnectionOptions = { address, [InternalConnectionOptionsSymbol]: { supportsTestService: true } };
    const connection = await Connection.connect(options);
    const nativeConnection = await NativeConnection.connect({ address });
    const env = new ExternalTimeSkippingEnvironment(
      Runtime.instance(),
      { server: { type: 'existing' }, client: {}, plugins: [] },
      true, // supportsTimeSkipping: the client unlocks time skipping while it awaits a workflow's result
      'existing',
      connection,
      nativeConnection,
      'default',
      address,
    );
    env.child = child;
    return env;
  }

  /** Closes the connections (the base class), then stops the server it does not know it owns. */
  override async teardown(): Promise<void> {
    await super.teardown();
    await stopChild(this.child);
  }
}

/**
 * Resolves once the server answers gRPC. The test server does not exit when
 * its port is taken (its JVM outlives the failed bind), so that is read from
 * its output and reported as EADDRINUSE for a retry on another port.
 */
async function waitUntilServing(child: ChildProcess, address: string): Promise<void> {
  let failure: Error | undefined;
  const output: string[] = [];
  const onOutput = (d: Buffer) => {
    output.push(d.toString());
    if (/Failed to bind|Address already in use/i.test(d.toString())) failure = Object.assign(new Error(`${address} is in use`), { code: 'EADDRINUSE' });
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  child.once('exit', (code, signal) => (failure ??= new Error(`time-skipping test server exited with ${code ?? signal}: ${output.join('').slice(-500)}`)));
  child.once('error', (err) => (failure ??= err));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (failure) throw failure;
    if (await answers(address)) return;
    if (Date.now() > deadline) throw new Error(`time-skipping test server at ${address} did not answer within ${READY_TIMEOUT_MS / 1000} s: ${output.join('').slice(-500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function answers(address: string): Promise<boolean> {
  if (!(await acceptsConnections(Number(address.split(':')[1])))) return false;
  try {
    const probe = await Connection.connect({ address, connectTimeout: 2000 });
    try {
      await probe.workflowService.getSystemInfo({});
      return true;
    } finally {
      await probe.close();
    }
  } catch {
    return false;
  }
}
