/**
 * The stack's child processes: each in its own process group (a SIGKILL
 * takes all of it, and a Ctrl-C on the terminal reaches only the stack,
 * which stops them in order), its output appended to `<logs>/<name>.log`,
 * and listed with the watchdog while it runs.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { ChildRegistry } from './watchdog';

export interface Child {
  name: string;
  pid: number;
  /** The last lines it printed (for an error message). */
  tail(): string;
  /** Resolves with its exit code or signal once it has exited. */
  exited: Promise<number | string>;
  /** Whether it has exited. */
  readonly done: boolean;
  /** A clean stop: `signal` (SIGTERM unless said), SIGKILL to its group after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to its whole group, as a crash or `kill -9` would. */
  kill(): Promise<void>;
}

export function spawnChild(opts: {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  logDir: string;
  registry: ChildRegistry;
  /** How it stops cleanly (PostgreSQL-like servers may want SIGINT). */
  signal?: NodeJS.Signals;
  /** Sees every line it prints (readiness). */
  onLine?: (line: string) => void;
}): Child {
  const signal = opts.signal ?? 'SIGTERM';
  const child = spawn(opts.command, opts.args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid === undefined) throw new Error(`${opts.name}: could not start ${opts.command}`);
  const pid = child.pid;
  opts.registry.add({ pid, signal, group: true });
  const log = createWriteStream(join(opts.logDir, `${opts.name}.log`), { flags: 'a', mode: 0o600 });
  const lines: string[] = [];
  let partial = '';
  const onData = (d: Buffer) => {
    log.write(d);
    const text = partial + d.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      opts.onLine?.(line);
    }
    lines.splice(0, Math.max(0, lines.length - 40));
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (err) => {
      lines.push(`could not run ${opts.command}: ${err.message}`);
      done = true;
      opts.registry.remove(pid);
      resolve('error');
    });
    // 'close': the output is read to its end too.
    child.once('close', (code, sig) => {
      done = true;
      opts.registry.remove(pid);
      log.end();
      resolve(code ?? sig ?? 'unknown');
    });
  });
  const killGroup = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch {
      /* gone already */
    }
  };
  return {
    name: opts.name,
    pid,
    // Long lines (a Go stack trace) cut short: the message is at their start.
    tail: () => [...lines, partial].filter(Boolean).slice(-15).map((l) => (l.length > 400 ? `${l.slice(0, 400)}...` : l)).join('\n'),
    exited,
    get done() {
      return done;
    },
    stop: async (graceMs = 30_000) => {
      if (done) return;
      // The process itself, not its group: it stops what it started in its own order.
      child.kill(signal);
      const timer = setTimeout(() => killGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      killGroup('SIGKILL'); // anything it left behind in its group
    },
    kill: async () => {
      if (done) return;
      killGroup('SIGKILL');
      await exited;
    },
  };
}

/** Resolves once `ready()` holds; rejects with the child's last lines when it exits first or the deadline passes. */
export async function waitUntilReady(child: Child, what: string, ready: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.done) throw new Error(`${what}: ${child.name} exited (${await child.exited}) before it was ready:\n${child.tail()}`);
    if (await Promise.resolve().then(ready).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: ${child.name} not ready after ${timeoutMs / 1000} s:\n${child.tail()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
