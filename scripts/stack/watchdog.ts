/**
 * The stack's watchdog: the servers and engine processes a stack starts must
 * not outlive it, however it ends. A clean stop (Ctrl-C, SIGTERM, the test's
 * teardown) stops them in order itself; but a stack that is SIGKILLed, or a
 * test runner that dies, runs no handler. So every stack starts this small
 * process first, in its own process group (a Ctrl-C on the terminal does not
 * reach it) and with no tie that keeps the stack alive.
 *
 * It watches the stack's process twice a second. Once the stack is gone (the
 * watchdog is re-parented, or the stack's pid is dead) it reads the stack's
 * list of running children and stops them: the signal each asks for
 * (PostgreSQL: SIGINT, its fast shutdown; the others: SIGTERM), SIGKILL
 * after 20 s to whatever is left, then it exits. The list is a file the
 * stack keeps current: one line per child, `<pid> <signal> <group>`, where
 * group 1 means the child leads its own process group and the signal goes to
 * the whole group.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const WATCHDOG = `
const { readFileSync } = require('node:fs');
const [ownerArg, file] = process.argv.slice(1);
const owner = Number(ownerArg);
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (err) { return err.code === 'EPERM'; } };
const ownerAlive = () => process.ppid === owner && alive(owner);
const children = () => {
  try {
    return readFileSync(file, 'utf8').split('\\n').filter(Boolean).map((l) => l.split(' ')).map(([pid, signal, group]) => ({ pid: Number(pid), signal, group: group === '1' }));
  } catch { return []; }
};
const send = (c, signal) => { try { process.kill(c.group ? -c.pid : c.pid, signal); } catch {} };
const watch = setInterval(() => {
  if (ownerAlive()) return;
  clearInterval(watch);
  const left = children();
  for (const c of left) send(c, c.signal);
  const deadline = Date.now() + 20000;
  const reap = setInterval(() => {
    const running = left.filter((c) => alive(c.pid));
    if (running.length && Date.now() < deadline) return;
    for (const c of running) send(c, 'SIGKILL');
    clearInterval(reap);
    process.exit(0);
  }, 250);
}, 500);
`;

export interface ChildEntry {
  pid: number;
  /** What stops it gracefully. */
  signal: NodeJS.Signals;
  /** It leads its own process group: signal the group. */
  group: boolean;
}

/** The list of a stack's running children, kept in `file` for the watchdog. */
export class ChildRegistry {
  private readonly entries = new Map<number, ChildEntry>();

  constructor(private readonly file: string) {
    this.write();
  }

  add(entry: ChildEntry): void {
    this.entries.set(entry.pid, entry);
    this.write();
  }

  remove(pid: number): void {
    if (this.entries.delete(pid)) this.write();
  }

  private write(): void {
    writeFileSync(this.file, [...this.entries.values()].map((e) => `${e.pid} ${e.signal} ${e.group ? 1 : 0}\n`).join(''), { mode: 0o600 });
  }
}

/** Starts the watchdog for this process; `stop()` ends it after a clean shutdown. */
export function startWatchdog(registryFile: string): { pid: number; stop(): void } {
  const child = spawn(process.execPath, ['-e', WATCHDOG, String(process.pid), registryFile], { detached: true, stdio: 'ignore' });
  child.unref();
  return {
    pid: child.pid!,
    stop: () => {
      try {
        child.kill('SIGTERM');
      } catch {
        /* gone already */
      }
    },
  };
}
