import { useEffect, useState, type MouseEvent } from 'react';
import type { Session } from '../App';
import { canAct, ok, type Operation } from '../api';
import { TroubleNote } from '../components/TroubleNote';
import { Decimal, money } from '../format';
import { useInterval, useLoad } from '../hooks';
import { ActivityDialog } from '../portfolio/ActivityDialog';
import { GrowthPanel } from '../portfolio/GrowthPanel';
import { OperationDialog } from '../portfolio/OperationDialog';
import { OperationsPanel } from '../portfolio/OperationsPanel';
import { TasksPanel } from '../portfolio/TasksPanel';
import { UnitTree } from '../portfolio/UnitTree';
import { WhatIfPanel } from '../portfolio/WhatIfPanel';
import type { Action } from '../portfolio/actions';
import { TERMINAL } from '../portfolio/actions';
import { Panel } from '../components/Panel';

/** Polling: quick while an operation runs or waits, slow otherwise; paused while the tab is hidden. */
const ACTIVE_MS = 1500;
const IDLE_MS = 8000;

export function PortfolioPage({ session, id }: { session: Session; id: string }) {
  const { client } = session;
  const portfolio = useLoad(() => ok(client.GET('/v1/portfolios/{id}', { params: { path: { id } } })), `portfolio:${id}`);
  const ops = useLoad(
    async () => ({ items: (await ok(client.GET('/v1/operations', { params: { query: { portfolioId: id, limit: 20 } } }))).items as Operation[] }),
    `operations:${id}`,
  );
  const tasks = useLoad(() => ok(client.GET('/v1/tasks', { params: { query: { portfolioId: id, status: 'open' } } })), `tasks:${id}`);
  const [action, setAction] = useState<Action>();
  const [changes, setChanges] = useState(0);

  const refresh = () => {
    portfolio.reload();
    ops.reload();
    tasks.reload();
  };
  const active = (ops.data?.items ?? []).some((o) => !TERMINAL.has(o.status));
  useInterval(refresh, action || active ? ACTIVE_MS : IDLE_MS);

  // Reports change when money moves: an activity, or an operation reaching its end.
  const settled = (ops.data?.items ?? []).filter((o) => TERMINAL.has(o.status)).length;

  // A key revoked while the page is open signs the reader out instead of showing 401s everywhere.
  const unauthorized = [portfolio.error, ops.error, tasks.error].some((e) => e?.status === 401);
  const { signOut } = session;
  useEffect(() => {
    if (unauthorized) signOut({ title: 'Your key is no longer accepted. Sign in again.', lines: [] });
  }, [unauthorized, signOut]);

  const p = portfolio.data;
  if (!p) {
    return (
      <div className="page">
        <p><a href="#/">← Portfolios</a></p>
        {portfolio.error ? <TroubleNote trouble={portfolio.error} /> : <p className="loading">Loading…</p>}
      </div>
    );
  }
  const operator = canAct(session.role);
  const inFlight = new Decimal(p.totals.inFlight);
  return (
    <div className="page">
      <p className="crumbs"><a href="#/">← Portfolios</a></p>
      <div className="page-head">
        <div>
          <h1>{p.name}</h1>
          <p className="muted">
            {p.owner} · {p.template} template · fork at a Gen-Acc surplus of {money(p.settings.forkThreshold)} · merge at a forked unit total of{' '}
            {money(p.settings.mergeThreshold)}
          </p>
        </div>
        <dl className="totals" aria-label="Totals">
          <div><dt>Total</dt><dd data-testid="portfolio-total">{money(p.totals.balance)}</dd></div>
          {!inFlight.isZero() && <div><dt>In flight</dt><dd>{money(p.totals.inFlight)}</dd></div>}
          <div><dt>Units</dt><dd>{p.units.filter((u) => u.status === 'active').length}</dd></div>
        </dl>
      </div>
      <TroubleNote trouble={portfolio.error} />
      <nav className="jump" aria-label="Sections of this portfolio">
        <a href="#units" onClick={jump}>Units</a>
        <a href="#tasks" onClick={jump}>Tasks</a>
        <a href="#operations" onClick={jump}>Operations</a>
        <a href="#growth" onClick={jump}>Growth</a>
        <a href="#what-if" onClick={jump}>What if</a>
      </nav>
      <div className="layout">
        <div className="col-main">
          <Panel id="units" title="Units">
            <UnitTree portfolio={p} act={operator ? setAction : undefined} />
          </Panel>
          <GrowthPanel client={client} portfolioId={id} refreshKey={settled + changes} />
          <WhatIfPanel client={client} portfolio={p} />
        </div>
        <div className="col-side">
          <TasksPanel client={client} tasks={tasks} canDecide={operator} onDecided={() => { refresh(); setChanges((c) => c + 1); }} />
          <OperationsPanel ops={ops} />
        </div>
      </div>
      {action?.kind === 'activity' && (
        <ActivityDialog
          client={client}
          account={action.account}
          accountName={action.accountName}
          onClose={() => setAction(undefined)}
          onDone={() => {
            refresh();
            setChanges((c) => c + 1);
          }}
        />
      )}
      {action && action.kind !== 'activity' && (
        <OperationDialog client={client} action={action} onClose={() => setAction(undefined)} onStarted={refresh} />
      )}
    </div>
  );
}

/** In-page links scroll to their section without replacing the hash route. */
function jump(e: MouseEvent<HTMLAnchorElement>) {
  const target = document.getElementById(e.currentTarget.hash.slice(1));
  if (!target) return;
  e.preventDefault();
  target.scrollIntoView({ behavior: 'smooth', block: 'start' });
  target.querySelector<HTMLElement>('h2')?.focus();
}
