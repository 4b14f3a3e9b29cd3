import type { Command } from 'commander';
import { DEFAULT_URL, configPath, envValue, keyPrefix, normalizeUrl, readConfig, removeConfig, resolveCredentials, sameOrigin, writeConfig } from '../config';
import { CliError, EXIT, usage } from '../exit-codes';
import type { Context } from '../context';
import type { ContextOf } from './shared';

export function authCommands(program: Command, ctxOf: ContextOf): void {
  program
    .command('login')
    .description('check an API key against the engine and store it with the URL (a 0600 file); without --key it is read from stdin')
    .option('--url <url>', `the engine (default: ALLUSE_URL, the stored one, or ${DEFAULT_URL})`)
    .option('--key <key>', 'the API key (visible in your shell history and `ps`: prefer stdin)')
    .action(async (o: { url?: string; key?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const path = configPath();
      const url = normalizeUrl(o.url ?? envValue('ALLUSE_URL') ?? storedUrl(path) ?? DEFAULT_URL);
      const apiKey = (o.key ?? (await readKey())).trim();
      if (!apiKey) throw usage('no API key given', 'pass --key, or pipe it in: `alluse login < .data/admin-api-key`');
      ctx.useCredentials({ url, apiKey, keySource: 'login' });
      // Any viewer request proves the key; nothing is saved unless it passes.
      const { items } = await ctx.call(ctx.api.GET('/v1/portfolios'));
      writeConfig({ url, apiKey }, path);
      const result = { url, keyPrefix: keyPrefix(apiKey), config: path, portfolios: items.length };
      ctx.out.emit(result, () => {
        ctx.out.line(`Logged in to ${url} with key ${keyPrefix(apiKey)} (${items.length} portfolio${items.length === 1 ? '' : 's'}).`);
        ctx.out.line(`Saved to ${path} (mode 0600).`);
      });
      warnIfOverridden(ctx, url);
    });

  program
    .command('logout')
    .description('forget the stored URL and key (removes the config file)')
    .action((_o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const path = configPath();
      const removed = removeConfig(path);
      ctx.out.emit({ config: path, removed }, () => ctx.out.line(removed ? `Removed ${path}.` : `Not logged in (no ${path}).`));
    });
}

/**
 * What the next command will really use, by the same rule every command
 * applies (resolveCredentials): the environment may keep this login from
 * being used, and the user should hear so now rather than from a 401 later.
 */
function warnIfOverridden(ctx: Context, url: string): void {
  const next = resolveCredentials();
  if (!sameOrigin(next.url, url)) {
    ctx.out.warn(`ALLUSE_URL is set to ${next.url}: commands go there, not to ${url}, and the stored key is not sent to another host; unset ALLUSE_URL to use this login`);
  }
  if (next.keySource === 'ALLUSE_API_KEY') ctx.out.warn('ALLUSE_API_KEY is set: it wins over the stored key until you unset it');
}

/** The stored URL as the default; a damaged file is about to be replaced, so it is no reason to fail. */
function storedUrl(path: string): string | undefined {
  try {
    return readConfig(path)?.url;
  } catch {
    return undefined;
  }
}

/** The key from stdin: typed without echo on a terminal, else the whole of what is piped in. */
async function readKey(): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  return promptHidden('API key (not echoed): ');
}

function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let key = '';
    const done = () => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          done();
          return resolve(key);
        }
        if (ch === '\u0003') {
          done();
          return reject(new CliError('cancelled: nothing was saved', EXIT.usage));
        }
        key = ch === '\u007f' || ch === '\b' ? key.slice(0, -1) : key + ch;
      }
    };
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.on('data', onData);
    stdin.resume();
  });
}
