import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { killHard } from './worker-process';

const root = resolve(__dirname, '../..');

export interface ApiProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote so far. */
  output(): string;
}

/**
 * `npm run api` (src/server.ts) as a real OS process (its own process group, so kill -9 takes all
 * of it). `env` gives at least DATABASE_URL, TEMPORAL_ADDRESS, PORT and ALLUSE_ADMIN_API_KEY.
 */
export function spawnApi(env: Record<string, string>): Promise<ApiProcess> {
  const child = spawn(resolve(root, 'node_modules/.bin/tsx'), ['src/server.ts'], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'info', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => {
      void killHard(child);
      fail(new Error(`the API did not start:\n${output}`));
    }, 90_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('"API listening"')) {
        clearTimeout(timer);
        ok({ child, url: `http://${env.HOST ?? '127.0.0.1'}:${env.PORT}`, output: () => output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`the API exited with ${code}:\n${output}`));
    });
  });
}

export const killApiHard = (api: ApiProcess): Promise<void> => killHard(api.child);
