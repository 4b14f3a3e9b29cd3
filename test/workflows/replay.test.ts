import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { temporal as proto } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../support/worker';

/**
 * Replays recorded histories (test/histories, from `npm run histories:record`)
 * against the current workflow code: a change that breaks determinism for
 * runs already in flight fails here, before it reaches production.
 */
const dir = join(__dirname, '../histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.history.b64'));

it('has recorded histories of every workflow, completed and compensated', () => {
  expect(files.sort()).toEqual(['fork-compensated.history.b64', 'fork-completed.history.b64', 'merge-completed.history.b64', 'reinvest-completed.history.b64']);
});

it.each(files)('replays %s deterministically', async (file) => {
  const history = proto.api.history.v1.History.decode(Buffer.from(readFileSync(join(dir, file), 'utf8'), 'base64'));
  await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file)).resolves.toBeUndefined();
});
