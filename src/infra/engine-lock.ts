import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { StartupError } from './startup-errors';

/** Written into the data dir by the engine using it; removed on a clean exit. */
export const ENGINE_LOCK_FILE = 'engine.pid';

interface LockContent {
  pid: number;
  /** The holder's start time from /proc, so a lock whose pid was reused by another process is seen as stale. */
  startTicks?: string;
  since: string;
}

export interface EngineLock {
  file: string;
  release(): void;
}

/**
 * Claims the data dir for this process, so a second engine cannot run its own
 * PostgreSQL and Temporal on the same files. A lock left by an engine that
 * died (its pid is gone, or now belongs to another process) is taken over.
 */
export function acquireEngineLock(dataDir: string): EngineLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, ENGINE_LOCK_FILE);
  const mine: LockContent = { pid: process.pid, startTicks: processStartTicks(process.pid), since: new Date().toISOString() };
  // A few rounds: another engine may be taking over the same stale lock at the same moment.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(mine)}\n`, { flag: 'wx', mode: 0o600 });
      const release = () => releaseLock(file);
      // Also on process.exit() from anywhere; a SIGKILL leaves a stale lock, which the next start takes over.
      process.once('exit', release);
      return { file, release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readLock(file);
    if (holder && isRunning(holder)) throw heldBy(dataDir, holder.pid);
    removeIfUnchanged(file, holder);
  }
  throw new StartupError(`could not take the lock ${displayPath(file)}: other processes keep changing it`);
}

/** The pid of another live engine holding the data dir, if any. */
export function engineHoldingDataDir(dataDir: string): number | undefined {
  const holder = readLock(join(dataDir, ENGINE_LOCK_FILE));
  return holder && isRunning(holder) ? holder.pid : undefined;
}

export function heldBy(dataDir: string, pid: number): StartupError {
  return new StartupError(`the data dir ${displayPath(dataDir)} is held by the engine with pid ${pid} (stop it, or set ALLUSE_DATA_DIR to another folder)`);
}

function releaseLock(file: string): void {
  const holder = readLock(file);
  if (holder?.pid === process.pid) removeIfUnchanged(file, holder);
}

function readLock(file: string): LockContent | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockContent>;
    return typeof parsed.pid === 'number' ? (parsed as LockContent) : undefined;
  } catch {
    // Missing, or half-written / garbage: treated as no holder.
    return undefined;
  }
}

function removeIfUnchanged(file: string, seen: LockContent | undefined): void {
  const now = readLock(file);
  if (now?.pid !== seen?.pid) return;
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function isRunning(holder: LockContent): boolean {
  if (holder.pid === process.pid) return false;
  if (!pidAlive(holder.pid)) return false;
  const ticks = processStartTicks(holder.pid);
  return holder.startTicks === undefined || ticks === undefined || ticks === holder.startTicks;
}

/** Whether a process with this pid exists (EPERM: it does, but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); undefined off Linux. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** A path as the operator typed it: relative to the working directory when inside it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !rel.startsWith('/') ? rel : path === process.cwd() ? '.' : path;
}
