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
/*
 * `current/` holds histories of today's code; every other folder is named
 * after the last commit before a workflow change and holds histories of runs
 * started on that code, which a deploy must still be able to finish.
 */
const root = join(__dirname, '../histories');
const files = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => readdirSync(join(root, d.name)).filter((f) => f.endsWith('.history.b64')).map((f) => `${d.name}/${f}`));

it('has recorded histories of every protocol workflow and the import, before and after each workflow change', () => {
  const protocol = ['fork-compensated.history.b64', 'fork-completed.history.b64', 'merge-completed.history.b64', 'reinvest-completed.history.b64'];
  expect(files.filter((f) => f.startsWith('a1a2461/')).sort()).toEqual(protocol.map((f) => `a1a2461/${f}`));
  const automation = ['quarterly-completed.history.b64', 'scan-completed.history.b64'];
  expect(files.filter((f) => f.startsWith('0764095/')).sort()).toEqual([...protocol, ...automation].sort().map((f) => `0764095/${f}`));
  // Today's code, including runs that wait on a person's task (recorded mid-wait) and the same runs decided.
  const operators = [
    'fork-approved-completed', 'fork-manual-compensated', 'fork-waiting-approval', 'fork-waiting-broker', 'reinvest-manual-completed', 'reinvest-waiting-broker',
  ].map((f) => `${f}.history.b64`);
  const imports = ['import-completed.history.b64', 'import-atomic-refused.history.b64'];
  const today = [...protocol, ...automation, ...operators, ...imports].sort();
  // Before the `plan` update (the 202's fixed plan): runs that never answered one.
  expect(files.filter((f) => f.startsWith('7dedf5c/')).sort()).toEqual(today.map((f) => `7dedf5c/${f}`));
  // Today's protocol runs answered the `plan` update right after their start; their histories hold it.
  expect(files.filter((f) => f.startsWith('current/')).sort()).toEqual(today.map((f) => `current/${f}`));
});

it.each(files)('replays %s deterministically', async (file) => {
  const history = proto.api.history.v1.History.decode(Buffer.from(readFileSync(join(root, file), 'utf8'), 'base64'));
  await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file)).resolves.toBeUndefined();
});
