import { type Client, ScheduleAlreadyRunning, ScheduleNotFoundError, type ScheduleOptions } from '@temporalio/client';
import type { Config } from './config';
import { DomainError } from './domain/errors';
import type { Logger } from './infra/logger';
import { type QuarterlyInput, SCHEDULE_IDS } from './shared/operations';
import { operationAttributes } from './shared/search-attributes';

/** The Temporal Schedules the engine owns: the threshold scan and the quarterly reinvestment. */
export function engineSchedules(config: Config): ScheduleOptions[] {
  const actor = 'system:scheduler';
  return [
    {
      scheduleId: SCHEDULE_IDS.scan,
      spec: { intervals: [{ every: `${config.scanIntervalMinutes}m` }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'scan',
        workflowId: 'scan-scheduled',
        taskQueue: config.taskQueue,
        args: [{ kinds: ['fork', 'merge'], actor }],
        typedSearchAttributes: operationAttributes('scan', {}),
      },
      policies: { overlap: 'SKIP', catchupWindow: '1 minute' },
      state: { note: 'ALL-USE threshold scan: starts forks and merges whose thresholds are met' },
    },
    {
      scheduleId: SCHEDULE_IDS.quarterly,
      // 01:00 on the first day of each quarter, in the operator's time zone: the quarter just closed.
      spec: { calendars: [{ month: ['JANUARY', 'APRIL', 'JULY', 'OCTOBER'], dayOfMonth: 1, hour: 1, minute: 0 }], timezone: config.reinvestTimezone },
      action: {
        type: 'startWorkflow',
        workflowType: 'quarterlyReinvestment',
        workflowId: 'quarterly-reinvestment',
        taskQueue: config.taskQueue,
        // The quarter that closed is computed on the same calendar the schedule fires on.
        args: [{ actor, timeZone: config.reinvestTimezone } satisfies QuarterlyInput],
      },
      policies: { overlap: 'SKIP', catchupWindow: '7 days' },
      state: { note: 'ALL-USE quarterly reinvestment of Rev-Acc and Com-Acc cash' },
    },
  ];
}

/** Creates the schedules, or updates them to the current configuration; safe to run at every start. */
export async function ensureSchedules(client: Client, config: Config, log: Logger): Promise<void> {
  for (const options of engineSchedules(config)) {
    try {
      await client.schedule.create(options);
      log.info('schedule created', { scheduleId: options.scheduleId });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(options.scheduleId).update((prev) => ({ ...prev, spec: options.spec, action: options.action, policies: { ...prev.policies, ...options.policies } }));
    }
  }
}

export interface ScheduleView {
  id: string;
  note?: string;
  paused: boolean;
  workflowType: string;
  spec: unknown;
  nextActionTimes: string[];
  recentActions: { scheduledAt: string; takenAt: string; workflowId?: string }[];
}

const OWNED = new Set<string>(Object.values(SCHEDULE_IDS));

export class ScheduleService {
  constructor(private readonly client: Client) {}

  async list(): Promise<ScheduleView[]> {
    const out: ScheduleView[] = [];
    for (const id of OWNED) {
      try {
        const d = await this.client.schedule.getHandle(id).describe();
        out.push({
          id,
          note: d.state.note,
          paused: d.state.paused,
          workflowType: d.action.type === 'startWorkflow' ? d.action.workflowType : d.action.type,
          spec: { intervals: d.spec.intervals, calendars: d.spec.calendars, timezone: d.spec.timezone },
          nextActionTimes: d.info.nextActionTimes.slice(0, 5).map((t) => t.toISOString()),
          recentActions: d.info.recentActions.slice(-5).map((a) => ({
            scheduledAt: a.scheduledAt.toISOString(),
            takenAt: a.takenAt.toISOString(),
            workflowId: a.action.type === 'startWorkflow' ? a.action.workflow.workflowId : undefined,
          })),
        });
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
    }
    return out;
  }

  async act(id: string, action: 'pause' | 'unpause' | 'trigger', actor: string): Promise<void> {
    if (!OWNED.has(id)) throw new DomainError('NotFound', 'schedule not found');
    const handle = this.client.schedule.getHandle(id);
    try {
      if (action === 'pause') await handle.pause(`paused by ${actor}`);
      else if (action === 'unpause') await handle.unpause(`resumed by ${actor}`);
      else await handle.trigger('ALLOW_ALL');
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new DomainError('NotFound', 'schedule not found (is the worker running?)');
      throw err;
    }
  }
}
