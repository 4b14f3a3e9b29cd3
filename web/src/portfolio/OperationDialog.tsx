import { useRef, useState } from 'react';
import { ApiError, describeError, ok, type AlluseClient, type Operation, type Trouble } from '../api';
import { Field } from '../components/Field';
import { Modal } from '../components/Modal';
import { TroubleNote } from '../components/TroubleNote';
import { ACCOUNT_NAME, money } from '../format';
import { useInterval, useLoad } from '../hooks';
import type { Action } from './actions';
import { TERMINAL } from './actions';
import { OperationSteps } from './OperationsPanel';

type OpAction = Extract<Action, { kind: 'fork' | 'merge' | 'reinvest' }>;
const STRATEGIES = ['standard', 'aggressive', 'conservative', 'balanced', 'dynamic'] as const;
type Strategy = (typeof STRATEGIES)[number];

/** The dry run's answer: eligibility, reasons and a plan whose fields depend on the operation. */
interface DryRun {
  eligible: boolean;
  reasons: string[];
  plan?: Record<string, unknown>;
  [field: string]: unknown;
}

const VERB = { fork: 'Fork', merge: 'Merge', reinvest: 'Reinvest' } as const;

/**
 * A fork, merge or reinvestment: the dry run first (eligibility, the plan and
 * its predicted impact), then the real run on confirmation, followed live
 * until it completes, fails or is compensated.
 */
export function OperationDialog({ client, action, onClose, onStarted }: {
  client: AlluseClient; action: OpAction; onClose: () => void; onStarted: () => void;
}) {
  const [strategy, setStrategy] = useState<Strategy | ''>('');
  const [trouble, setTrouble] = useState<Trouble>();
  const [busy, setBusy] = useState(false);
  const [operationId, setOperationId] = useState<string>();
  const [op, setOp] = useState<Operation>();
  const subject = action.kind === 'merge' ? action.unitName.toLowerCase() : action.accountName;
  const title = `${VERB[action.kind]} · ${subject}`;
  const target = action.kind === 'merge' ? action.unit.id : action.account.id;

  const call = (dry: boolean) => {
    const body = { dryRun: dry };
    if (action.kind === 'fork') return client.POST('/v1/accounts/{id}/fork', { params: { path: { id: target } }, body });
    if (action.kind === 'merge') return client.POST('/v1/units/{id}/merge', { params: { path: { id: target } }, body });
    return client.POST('/v1/accounts/{id}/reinvest', { params: { path: { id: target } }, body: { ...body, ...(strategy && { strategy }) } });
  };

  // The dry run is the first thing the dialog shows (again when the strategy changes).
  const dry = useLoad(async () => (await ok(call(true))) as DryRun, `${action.kind}:${target}:${strategy}`);
  const dryRun = dry.loading ? undefined : dry.data;

  const start = async () => {
    setBusy(true);
    setTrouble(undefined);
    try {
      const started = (await ok(call(false))) as { operationId: string };
      setOperationId(started.operationId);
      onStarted();
    } catch (err) {
      // Another operation already running on this account or unit: follow that one instead.
      if (err instanceof ApiError && err.problem.operationId) setOperationId(err.problem.operationId);
      else dry.reload(); // refused (no longer eligible, say): show why, from a fresh dry run
      setTrouble(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const following = operationId !== undefined && (!op || !TERMINAL.has(op.status));
  const polling = useRef(false);
  useInterval(() => {
    // One request at a time, so an older answer can never overwrite a newer status.
    if (!operationId || polling.current) return;
    polling.current = true;
    ok(client.GET('/v1/operations/{operationId}', { params: { path: { operationId } } }))
      .then(
        (o) => setOp(o as Operation),
        (err: unknown) => setTrouble(describeError(err)),
      )
      .finally(() => {
        polling.current = false;
      });
  }, following ? 700 : null);

  return (
    <Modal title={title} onClose={onClose}>
      {action.kind === 'reinvest' && !operationId && (
        <Field id="op-strategy" label="Strategy" hint="The portfolio's setting when left as default.">
          <select id="op-strategy" data-autofocus value={strategy} onChange={(e) => setStrategy(e.target.value as Strategy | '')} aria-describedby="op-strategy-hint">
            <option value="">default</option>
            {STRATEGIES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </Field>
      )}
      {!operationId && (
        <section aria-labelledby="dry-run-title" aria-busy={dry.loading} className="dry-run">
          <h3 id="dry-run-title">Dry run</h3>
          {dry.loading && <p className="loading">Checking eligibility…</p>}
          {dryRun && <DryRunView kind={action.kind} dryRun={dryRun} />}
          <TroubleNote trouble={dry.error} />
        </section>
      )}
      <TroubleNote trouble={trouble} />
      {operationId && (
        <section aria-labelledby="run-title" className="run" aria-live="polite">
          <h3 id="run-title">
            {VERB[action.kind]} {op ? <span className={`badge ${op.status === 'completed' ? 'ok' : TERMINAL.has(op.status) ? 'bad' : 'info'}`}>{op.status}</span> : 'started'}
          </h3>
          <p className="muted small">Operation {operationId}</p>
          {op && <OperationSteps op={op} />}
          {op?.error && <p className="trouble">{op.error.message}</p>}
          {op?.status === 'waiting' && <p>It is waiting for a person: see the open tasks on the portfolio page.</p>}
        </section>
      )}
      <div className="form-actions">
        {!operationId && (
          <button type="button" className="primary" disabled={busy || dry.error !== undefined || !dryRun?.eligible} onClick={() => void start()}>
            {busy ? 'Starting…' : `${VERB[action.kind]} now`}
          </button>
        )}
        <button type="button" onClick={onClose}>
          {operationId ? 'Close' : 'Cancel'}
        </button>
      </div>
    </Modal>
  );
}

const m = (v: unknown) => money(v as string | undefined);

function DryRunView({ kind, dryRun }: { kind: OpAction['kind']; dryRun: DryRun }) {
  const p = dryRun.plan ?? {};
  return (
    <div>
      <p className={dryRun.eligible ? 'eligible' : 'not-eligible'} role="status">
        {dryRun.eligible ? 'Eligible: this is what the real run will do.' : 'Not eligible now:'}
      </p>
      {dryRun.reasons.length > 0 && (
        <ul className="reasons">
          {dryRun.reasons.map((r, i) => (
            <li key={i}>{r}</li>
          ))}
        </ul>
      )}
      {kind === 'fork' && dryRun.eligible && dryRun.plan && <ForkPlan dryRun={dryRun} />}
      {kind === 'merge' && dryRun.eligible && dryRun.plan && (
        <dl className="plan">
          <div>
            <dt>Moves</dt>
            <dd>{m(dryRun.total)} to the nearest active ancestor's Com-Acc</dd>
          </div>
          {((p.sources ?? []) as { accountId: string; type: string; amount: string; closePositions: string; reserve: string }[]).map((s) => (
            <div key={s.accountId}>
              <dt>From the {ACCOUNT_NAME[s.type] ?? s.type}</dt>
              <dd>
                {m(s.amount)} (closes positions {m(s.closePositions)}, reserve {m(s.reserve)})
              </dd>
            </div>
          ))}
        </dl>
      )}
      {kind === 'reinvest' && dryRun.eligible && dryRun.plan && (
        <dl className="plan">
          <dt>Quarter</dt><dd>{String(dryRun.quarter)}</dd>
          <dt>Strategy</dt><dd>{String(p.strategy)}{p.regime ? ` (${String(p.regime)})` : ''}</dd>
          <dt>Reinvestable</dt><dd>{m(p.reinvestable)}</dd>
          <dt>To contracts</dt><dd>{m(p.contracts)}</dd>
          <dt>To LEAPS</dt><dd>{m(p.leaps)}</dd>
          <dt>To reserve</dt><dd>{m(p.reserve)}</dd>
        </dl>
      )}
    </div>
  );
}

function ForkPlan({ dryRun }: { dryRun: DryRun }) {
  const p = dryRun.plan ?? {};
  const impact = dryRun.predictedImpact as { horizonYears: number; withFork: { total: string }; withoutFork: { total: string }; difference: string } | undefined;
  return (
    <>
      <dl className="plan">
        <dt>Surplus</dt><dd>{m(dryRun.surplus)}</dd>
        <dt>Retained</dt><dd>{m(p.retained)} stays in the Gen-Acc</dd>
        <dt>Fork amount</dt><dd>{m(p.forkAmount)} leaves the Gen-Acc</dd>
        <dt>New Gen-Acc</dt><dd>{m(p.childGen)}</dd>
        <dt>New Com-Acc</dt><dd>{m(p.childCom)}</dd>
      </dl>
      {impact ? (
        <p className="impact">
          Predicted impact in {impact.horizonYears} years: {m(impact.withFork.total)} with this fork, {m(impact.withoutFork.total)} without
          (difference {m(impact.difference)}). The model keeps an unforked Gen-Acc compounding at its weekly rate, so the difference can be negative.
        </p>
      ) : dryRun.predictedImpactUnavailable ? (
        <p className="muted">Predicted impact unavailable: {String(dryRun.predictedImpactUnavailable)}</p>
      ) : null}
    </>
  );
}
