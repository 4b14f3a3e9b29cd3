import { type Server, type Socket, connect, createServer } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Stops forwarding in both directions, connections left open: a network that silently drops everything. */
  freeze(): void;
  thaw(): void;
  /** Closes every connection and refuses new ones at once: a database that went away. */
  cut(): void;
  /** Accepts and forwards connections again. */
  restore(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `target`, for putting a connection's faults in a test's hands. */
export function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let refusing = false;
  let frozen = false;
  const server: Server = createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
    if (frozen) {
      client.pause();
      upstream.pause();
    }
  });
  const each = (f: (s: Socket) => void) => {
    for (const pair of pairs) pair.forEach(f);
  };
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      ok({
        port: (server.address() as { port: number }).port,
        freeze: () => {
          frozen = true;
          each((s) => s.pause());
        },
        thaw: () => {
          frozen = false;
          each((s) => s.resume());
        },
        cut: () => {
          refusing = true;
          each((s) => s.destroy());
        },
        restore: () => {
          refusing = false;
        },
        close: () =>
          new Promise<void>((done) => {
            each((s) => s.destroy());
            server.close(() => done());
          }),
      });
    });
  });
}
