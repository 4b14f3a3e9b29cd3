import type { Operation } from '../api';
import { Panel } from '../components/Panel';
import { StatusBadge } from '../components/StatusBadge';
import { TroubleNote } from '../components/TroubleNote';
import { when } from '../format';
import type { Loaded } from '../hooks';

const TYPE_NAME: Record<string, string> = {
  fork: 'Fork', merge: 'Merge', reinvestment: 'Reinvestment', 'quarterly-reinvestment': 'Quarterly reinvestment', scan: 'Scan', import: 'Statement import',
};

/** An operation's durable steps as the workflow reports them, oldest first. */
export function OperationSteps({ op }: { op: Operation }) {
  if (op.steps.length === 0) return <p className="muted small">No step recorded yet.</p>;
  return (
    <ol className="steps">
      {op.steps.map((s, i) => (
        <li key={`${s.name}-${i}`} className={`step step-${s.status}`}>
          <span className="step-name">{s.name}</span> <StatusBadge status={s.status} /> <time dateTime={s.at} className="muted small">{when(s.at)}</time>
        </li>
      ))}
    </ol>
  );
}

/** Running and recent operations of the portfolio, refreshed by the page's polling. */
export function OperationsPanel({ ops }: { ops: Loaded<{ items: Operation[] }> }) {
  const items = ops.data?.items ?? [];
  return (
    <Panel id="operations" title="Operations">
      <TroubleNote trouble={ops.error} />
      {!ops.data && ops.loading && <p className="loading">Loading…</p>}
      {ops.data && items.length === 0 && <p className="muted">No fork, merge or reinvestment yet.</p>}
      <ul className="operations" aria-live="polite">
        {items.map((op) => (
          <li key={op.operationId} className="card operation" data-operation-id={op.operationId}>
            <details open={op.status === 'running' || op.status === 'waiting'}>
              <summary>
                <strong>{TYPE_NAME[op.type] ?? op.type}</strong> <StatusBadge status={op.status} />{' '}
                <time dateTime={op.startedAt} className="muted small">{when(op.startedAt)}</time>
              </summary>
              <OperationSteps op={op} />
              {op.error && <p className="trouble small">{op.error.message}</p>}
              <p className="small muted">
                {op.operationId}
                {op.temporalUiUrl && (
                  <>
                    {' · '}
                    <a href={op.temporalUiUrl} target="_blank" rel="noopener noreferrer">
                      Open in the Temporal UI
                    </a>
                  </>
                )}
              </p>
            </details>
          </li>
        ))}
      </ul>
    </Panel>
  );
}
