import { useState } from 'react';
import { describeError, ok, type AlluseClient, type Task, type Trouble } from '../api';
import { Panel } from '../components/Panel';
import { TroubleNote } from '../components/TroubleNote';
import { money, when } from '../format';
import type { Loaded } from '../hooks';

/** Open tasks: approvals an operation waits for, and broker instructions to carry out and report. */
export function TasksPanel({ client, tasks, canDecide, onDecided }: {
  client: AlluseClient; tasks: Loaded<{ items: Task[] }>; canDecide: boolean; onDecided: () => void;
}) {
  const items = tasks.data?.items ?? [];
  return (
    <Panel id="tasks" title={`Tasks${items.length ? ` (${items.length} open)` : ''}`}>
      <TroubleNote trouble={tasks.error} />
      {tasks.data && items.length === 0 && <p className="muted">Nothing is waiting for you.</p>}
      <ul className="tasks">
        {items.map((t) => (
          <TaskCard key={t.id} client={client} task={t} canDecide={canDecide} onDecided={onDecided} />
        ))}
      </ul>
    </Panel>
  );
}

function TaskCard({ client, task, canDecide, onDecided }: { client: AlluseClient; task: Task; canDecide: boolean; onDecided: () => void }) {
  const [reference, setReference] = useState('');
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [trouble, setTrouble] = useState<Trouble>();
  const headingId = `task-${task.id}`;

  const decide = async (decision: 'approve' | 'reject' | 'done' | 'failed') => {
    if (decision === 'done' && !reference.trim()) {
      setTrouble({ title: "Enter the broker's reference for the transfer first.", lines: [] });
      return;
    }
    setBusy(true);
    setTrouble(undefined);
    try {
      await ok(
        client.POST('/v1/tasks/{id}/decide', {
          params: { path: { id: task.id } },
          body: { decision, ...(decision === 'done' && { brokerReference: reference.trim() }), ...(note.trim() && { note: note.trim() }) },
        }),
      );
      onDecided();
    } catch (err) {
      setTrouble(describeError(err));
      setBusy(false);
    }
  };

  return (
    <li className="card task" aria-labelledby={headingId} data-task-id={task.id}>
      <h3 id={headingId}>{task.title}</h3>
      <p>{task.instructions}</p>
      <p className="small muted">
        {task.kind === 'approval' ? 'Approval' : 'Broker task'} for a {task.operationType}
        {task.amount && <> · {money(task.amount)}</>} · due {when(task.dueAt)}
        {task.reminders > 0 && <> · {task.reminders} reminder{task.reminders > 1 ? 's' : ''} sent</>}
      </p>
      {canDecide && (
        <div className="task-decide">
          {task.kind === 'broker' && (
            <label>
              Broker reference
              <input value={reference} onChange={(e) => setReference(e.target.value)} maxLength={200} />
            </label>
          )}
          <label>
            Note (optional)
            <input value={note} onChange={(e) => setNote(e.target.value)} maxLength={2000} />
          </label>
          <div className="form-actions">
            {task.kind === 'approval' ? (
              <>
                <button type="button" className="primary" disabled={busy} onClick={() => void decide('approve')}>Approve</button>
                <button type="button" className="danger" disabled={busy} onClick={() => void decide('reject')}>Reject</button>
              </>
            ) : (
              <>
                <button type="button" className="primary" disabled={busy} onClick={() => void decide('done')}>Done</button>
                <button type="button" className="danger" disabled={busy} onClick={() => void decide('failed')}>Failed</button>
              </>
            )}
          </div>
          <TroubleNote trouble={trouble} />
        </div>
      )}
    </li>
  );
}
