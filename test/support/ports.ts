import { createServer } from 'node:net';
import { isPortInUse } from '../../src/infra/startup-errors';

/** A TCP port free on `host` (loopback unless told) right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Runs `start` (which picks its own free ports) again when the port it chose
 * was taken between freePort() and the server's own bind: on a machine
 * running other servers and test runs, that race does happen.
 */
export async function retryOnPortClash<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= attempts || !isPortInUse(err)) throw err;
    }
  }
}
