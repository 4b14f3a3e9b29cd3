/**
 * Where the CLI finds the engine and its API key: ALLUSE_URL / ALLUSE_API_KEY
 * (scripts, CI) over the file `alluse login` writes. The file holds a secret,
 * so it is written 0600, atomically (a crash never leaves half a file), in a
 * 0700 directory when the directory is ours (see writeConfig), and the key is
 * never printed, only its prefix. A stored key is sent only to the origin it
 * was stored for: ALLUSE_URL pointing elsewhere needs ALLUSE_API_KEY too.
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CliError, EXIT } from './exit-codes';

export const DEFAULT_URL = 'http://127.0.0.1:3000';

export interface StoredConfig {
  url: string;
  apiKey: string;
  savedAt?: string;
}

export interface Credentials {
  url: string;
  apiKey?: string;
  /** Where the key came from, so an error can say which one to fix. */
  keySource: 'ALLUSE_API_KEY' | 'config' | 'none' | 'login';
  /** No key because the stored one belongs to this other URL (ALLUSE_URL points elsewhere). */
  storedUrl?: string;
}

/** An environment variable, with an empty value taken as unset (`ALLUSE_URL= alluse ...` means the default, everywhere). */
export function envValue(name: 'ALLUSE_URL' | 'ALLUSE_API_KEY' | 'ALLUSE_CONFIG' | 'XDG_CONFIG_HOME', env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[name] || undefined;
}

/** The directory of the default config file: ours alone, so `login` keeps it 0700. */
export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(envValue('XDG_CONFIG_HOME', env) ?? join(homedir(), '.config'), 'alluse');
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return envValue('ALLUSE_CONFIG', env) ?? join(defaultConfigDir(env), 'config.json');
}

/** The stored config, or undefined when there is none; a damaged file is an error that says how to fix it. */
export function readConfig(path = configPath()): StoredConfig | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`, EXIT.failure);
  }
  warnIfOpen(path);
  try {
    const parsed = JSON.parse(text) as Partial<StoredConfig>;
    if (typeof parsed.url === 'string' && typeof parsed.apiKey === 'string') return parsed as StoredConfig;
  } catch {
    // reported below
  }
  throw new CliError(`${path} is not an alluse config file`, EXIT.usage, ['run `alluse login` again to rewrite it']);
}

/** A key file others can read is worth a warning (not an error: the user may share the machine with nobody). */
function warnIfOpen(path: string): void {
  try {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) process.stderr.write(`warning: ${path} is readable by others (mode ${mode.toString(8)}): chmod 600 it, or run \`alluse login\` again\n`);
  } catch {
    // unreadable stat: the read already succeeded, nothing to add
  }
}

/**
 * Writes the config 0600: a temporary file, fsync, rename over the old one.
 * Its directory is made exactly 0700 when this creates it, or when it is the
 * default one (`${XDG_CONFIG_HOME:-~/.config}/alluse`, which holds nothing
 * else), whatever its mode was. Any other directory that already exists
 * keeps its mode (ALLUSE_CONFIG=~/alluse.json must not chmod $HOME): there
 * the file alone is 0600.
 */
export function writeConfig(cfg: StoredConfig, path = configPath(), env: NodeJS.ProcessEnv = process.env): void {
  const dir = dirname(path);
  const created = mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode passes through the umask, and an existing default directory may be 0755 from an older version or by hand.
  if (created !== undefined || resolve(dir) === resolve(defaultConfigDir(env))) chmodSync(dir, 0o700);
  const tmp = join(dir, `.config-${process.pid}-${Date.now()}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ ...cfg, savedAt: new Date().toISOString() }, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // The umask can only narrow the mode (a 0400 file could not be rewritten later): make it exactly 0600.
  chmodSync(tmp, 0o600);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function removeConfig(path = configPath()): boolean {
  try {
    rmSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * The environment wins over the file, each part separately, with one limit:
 * the stored key goes only to the origin it was stored for, so ALLUSE_URL
 * pointing at another host needs ALLUSE_API_KEY as well (a key must not
 * follow a URL to a server that could keep it). With both variables set the
 * file is not read at all: a damaged or open config file does not disturb a
 * script that never uses it.
 */
export function resolveCredentials(env: NodeJS.ProcessEnv = process.env): Credentials {
  const envUrl = envValue('ALLUSE_URL', env);
  const envKey = envValue('ALLUSE_API_KEY', env);
  if (envUrl && envKey) return { url: envUrl, apiKey: envKey, keySource: 'ALLUSE_API_KEY' };
  const stored = readConfig(configPath(env));
  const url = envUrl ?? stored?.url ?? DEFAULT_URL;
  if (envKey) return { url, apiKey: envKey, keySource: 'ALLUSE_API_KEY' };
  if (!stored) return { url, keySource: 'none' };
  if (!sameOrigin(url, stored.url)) return { url, keySource: 'none', storedUrl: stored.url };
  return { url, apiKey: stored.apiKey, keySource: 'config' };
}

/** Same scheme, host and port; an unparsable URL matches nothing. */
export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/** What may be shown of a key: the same 8 characters the engine stores as its prefix. */
export function keyPrefix(key: string): string {
  return `${key.slice(0, 8)}…`;
}

/** A base URL the client can use: http(s) only, no trailing slash. */
export function normalizeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`"${raw}" is not a URL`, EXIT.usage, [`give the engine's address, e.g. --url ${DEFAULT_URL}`]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`"${raw}" is not an http(s) URL`, EXIT.usage, [`e.g. --url ${DEFAULT_URL}`]);
  return url.toString().replace(/\/+$/, '');
}
