import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';

/**
 * True when host:port cannot be listened on because something already does.
 * Checked by listening for a moment, as the real server would, so a wildcard
 * listener (0.0.0.0) on the same port counts too.
 */
export function portInUse(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(true) : reject(err)));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(false)));
  });
}

/** A TCP port free on `host` right now (the kernel's pick), for a listener nobody has to know in advance. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen({ port: 0, host }, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/**
 * True once something accepts TCP connections on host:port. A cheap first
 * readiness check: a gRPC probe made before the server listens waits out
 * gRPC's reconnect backoff, which hides a server that is already up.
 */
export function acceptsConnections(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Best effort: the pid and name of the process listening on a TCP port, read
 * from /proc (Linux only; undefined elsewhere or when not allowed to look).
 * Only used to make a "port in use" message point at the culprit.
 */
export function portOwner(port: number): { pid: number; name: string } | undefined {
  try {
    const inodes = listeningInodes(port);
    if (inodes.size === 0) return undefined;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      if (holdsSocket(entry, inodes)) return { pid: Number(entry), name: processName(Number(entry)) };
    }
  } catch {
    // No /proc, or not ours to read: the message just names no process.
  }
  return undefined;
}

/** The parent of a process, from /proc (undefined off Linux or once it is gone). */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state, ppid, ...
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** The short name of a process ("node", "postgres"), or "a process". */
export function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return 'a process';
  }
}

/** The command line of a process, or '' when it cannot be read. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Socket inodes of listeners on the port (state 0A = LISTEN in /proc/net/tcp*). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readTable(table).split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A' && cols[9]) inodes.add(cols[9]);
    }
  }
  return inodes;
}

function readTable(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // no IPv6 table, for one
  }
}

function holdsSocket(pid: string, inodes: Set<string>): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return m !== null && inodes.has(m[1]!);
    } catch {
      return false;
    }
  });
}
