import type { Config } from '../config';
import { runningPostgres } from './embedded-postgres';
import { runningTemporalDevServer } from './temporal-dev-server';
import { acquireEngineLock, displayPath, type EngineLock } from './engine-lock';
import { commandLine, parentPid, portInUse, portOwner, processName } from './port-check';
import { isPortInUse, StartupError } from './startup-errors';

/** A port `npm start` will listen on, and the setting that moves it. */
interface PlannedPort {
  port: number;
  host: string;
  label: string;
  setting: string;
}

/**
 * Everything a second engine (or any other program) could have in the way,
 * checked before anything is started, so a conflict is reported as one clear
 * line instead of a half-started engine: the data dir (when the embedded
 * PostgreSQL or Temporal keep their files there), servers a killed engine
 * left running on it, and every port. Returns the data dir lock, to release
 * on exit.
 */
export async function preflight(config: Config): Promise<EngineLock | undefined> {
  const ports = plannedPorts(config);
  assertDistinct(ports);
  const embedded = !config.databaseUrl || !config.temporalAddress;
  const lock = embedded ? acquireEngineLock(config.dataDir) : undefined;
  try {
    assertNoLeftovers(config);
    await assertPortsFree(ports);
    return lock;
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/**
 * Servers an engine killed without a chance to stop them (SIGKILL, a crash)
 * keep running on its data dir; its lock is stale then, so this is how the
 * next start notices them. They also hold the ports, so they come first.
 */
function assertNoLeftovers(config: Config): void {
  const left = [
    { what: 'PostgreSQL', pid: config.databaseUrl ? undefined : runningPostgres(config.dataDir) },
    { what: 'Temporal dev server', pid: config.temporalAddress ? undefined : runningTemporalDevServer(config.dataDir) },
  ].filter((l): l is { what: string; pid: number } => l.pid !== undefined);
  if (left.length === 0) return;
  const servers = left.map((l) => `a ${l.what} (pid ${l.pid})`).join(' and ');
  const one = left.length === 1;
  throw new StartupError(
    `${servers} left by an earlier engine still ${one ? 'runs' : 'run'} on the data dir ${displayPath(config.dataDir)} ` +
      `(stop ${one ? 'it' : 'them'}: kill ${left.map((l) => l.pid).join(' ')}; or set ALLUSE_DATA_DIR)`,
  );
}

export function plannedPorts(config: Config): PlannedPort[] {
  const ports: PlannedPort[] = [{ port: config.port, host: config.host, label: 'port', setting: 'PORT' }];
  if (!config.databaseUrl) {
    ports.push({ port: config.embeddedPgPort, host: '127.0.0.1', label: 'PostgreSQL port', setting: 'ALLUSE_PG_PORT' });
  }
  if (!config.temporalAddress) {
    ports.push(
      { port: config.temporalPort, host: '127.0.0.1', label: 'Temporal port', setting: 'TEMPORAL_PORT' },
      { port: config.temporalUiPort, host: '127.0.0.1', label: 'Temporal UI port', setting: 'TEMPORAL_UI_PORT' },
    );
  }
  return ports;
}

/** Two settings on one port would make the engine collide with itself. */
function assertDistinct(ports: PlannedPort[]): void {
  for (const [i, a] of ports.entries()) {
    const b = ports.slice(i + 1).find((p) => p.port === a.port);
    if (b) throw new StartupError(`${a.setting} and ${b.setting} are both ${a.port} (give each its own port)`);
  }
}

async function assertPortsFree(ports: PlannedPort[]): Promise<void> {
  const busy: PlannedPort[] = [];
  for (const p of ports) if (await portInUse(p.port, p.host)) busy.push(p);
  if (busy.length === 1) throw new StartupError(portInUseMessage(busy[0]!));
  if (busy.length > 1) throw new StartupError(portsInUseMessage(busy));
}

function portInUseMessage(p: PlannedPort): string {
  const owner = portOwner(p.port);
  const by = owner ? ` by ${owner.name} (pid ${owner.pid})` : '';
  return `${p.label} ${p.port} is in use${by} (set ${p.setting} to another port, or stop ${owner ? 'that process' : 'the process using it'})`;
}

/**
 * Several ports taken at once is typically another engine: its API in node,
 * its PostgreSQL and Temporal as node's children. Said as one owner when the
 * listeners share a process tree, rather than as four separate complaints.
 */
function portsInUseMessage(busy: PlannedPort[]): string {
  const list = busy.map((p) => `${p.port} (${p.setting})`).join(', ');
  const owners = busy.map((p) => portOwner(p.port));
  const root = commonRoot(owners.map((o) => o?.pid));
  if (root) {
    const engine = /\bmain\.[jt]s\b/.test(commandLine(root.pid)) ? ', most likely another engine' : '';
    const family = owners.every((o) => o?.pid === root.pid) ? '' : ' and its child processes';
    return `ports ${list} are in use by ${root.name} (pid ${root.pid})${family}${engine} (stop it, or set those variables to free ports)`;
  }
  const who = busy.map((p, i) => `${p.port} (${p.setting})${owners[i] ? ` by ${owners[i].name} pid ${owners[i].pid}` : ''}`);
  return `ports in use: ${who.join(', ')} (set those variables to free ports, or stop the processes using them)`;
}

/**
 * The process all the listeners descend from, if it is one of them or the
 * parent of one (an engine's node process, whether or not its own API port
 * is among them); never a far ancestor such as the shell they share.
 */
function commonRoot(pids: (number | undefined)[]): { pid: number; name: string } | undefined {
  if (pids.some((p) => p === undefined)) return undefined;
  const known = pids as number[];
  const ancestry = (pid: number) => {
    const chain = [pid];
    for (let p = parentPid(pid); p && chain.length < 10; p = parentPid(p)) chain.push(p);
    return chain;
  };
  const candidates = [...known, ...known.map(parentPid)].filter((p): p is number => p !== undefined && p > 1);
  const root = candidates.find((candidate) => known.every((pid) => ancestry(pid).includes(candidate)));
  return root === undefined ? undefined : { pid: root, name: processName(root) };
}

/**
 * A port taken after the preflight check (a race with another program) is
 * reported by the server that failed to listen (a PortInUseError, or Node's
 * EADDRINUSE error, which carries the port): given the same message and hint.
 */
export function explainPortInUse(config: Config, err: unknown): string | undefined {
  const port = (err as { port?: unknown } | null | undefined)?.port;
  if (!isPortInUse(err) || typeof port !== 'number') return undefined;
  const planned = plannedPorts(config).find((p) => p.port === port);
  return planned ? portInUseMessage(planned) : undefined;
}
