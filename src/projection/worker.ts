/**
 * A projection worker thread's handler: Piscina calls the default export
 * with each task (see ProjectionPool for how the thread loads this file from
 * dist/ or from the TypeScript sources).
 */
import { setPriority } from 'node:os';
import { type ProjectionTask, type TaskOutcome, runTask } from './tasks';

/**
 * On Linux a thread has its own scheduling priority, and setpriority() on
 * "this process" (0) sets the calling thread's: the projection threads yield
 * the CPU to the API's thread when both want it, so requests keep their
 * latency on a busy machine. Elsewhere it would lower the whole process, so
 * it is left alone.
 */
if (process.platform === 'linux') setPriority(0, 10);

export default function handle(task: ProjectionTask): TaskOutcome {
  return runTask(task);
}
