import type { Account, Portfolio, Unit } from '../api';
import { ProgressBar } from '../components/ProgressBar';
import { StatusBadge } from '../components/StatusBadge';
import { ACCOUNT_NAME, money, sum } from '../format';
import type { Action } from './actions';

const ORDER: Record<string, number> = { gen: 0, rev: 1, com: 2 };
const byType = (a: Account, b: Account) => (ORDER[a.type] ?? 9) - (ORDER[b.type] ?? 9);

export const unitTotal = (unit: Unit) => sum(unit.accounts.map((a) => a.balance));
export const unitName = (unit: Unit, index: number) => (unit.kind === 'root' ? 'Root unit' : `Forked unit ${index}`);

/**
 * The units from the root down: each unit's Gen/Rev/Com balances and
 * buckets, how far its Gen-Acc's surplus is toward the fork threshold and (a
 * forked unit) how far its total is toward the merge threshold.
 */
export function UnitTree({ portfolio, act }: { portfolio: Portfolio; act?: (a: Action) => void }) {
  const ids = new Set(portfolio.units.map((u) => u.id));
  const children = new Map<string | null, Unit[]>();
  for (const u of portfolio.units) {
    const parent = u.parentUnitId && ids.has(u.parentUnitId) ? u.parentUnitId : null;
    children.set(parent, [...(children.get(parent) ?? []), u]);
  }
  // Forked units numbered in creation order, so "Forked unit 2" means the same unit on every visit.
  const forkedOrder = new Map(
    [...portfolio.units].filter((u) => u.kind === 'forked').sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map((u, i) => [u.id, i + 1]),
  );
  const render = (units: Unit[]) => (
    <ul className="tree">
      {units.map((u) => (
        <li key={u.id}>
          <UnitCard portfolio={portfolio} unit={u} name={unitName(u, forkedOrder.get(u.id) ?? 0)} act={act} />
          {(children.get(u.id)?.length ?? 0) > 0 && render(children.get(u.id)!)}
        </li>
      ))}
    </ul>
  );
  return render(children.get(null) ?? []);
}

function UnitCard({ portfolio, unit, name, act }: { portfolio: Portfolio; unit: Unit; name: string; act?: (a: Action) => void }) {
  const s = portfolio.settings;
  const live = unit.status === 'active';
  const total = unitTotal(unit);
  const accounts = [...unit.accounts].sort(byType);
  const gen = accounts.find((a) => a.type === 'gen');
  const headingId = `unit-${unit.id}`;
  return (
    <article className={`unit card${live ? '' : ' inactive'}`} aria-labelledby={headingId} data-unit-id={unit.id}>
      <header className="unit-head">
        <h3 id={headingId}>{name}</h3>
        <StatusBadge status={unit.status} />
        <span className="unit-total">
          total <strong>{money(total)}</strong>
        </span>
      </header>
      <div className="table-wrap">
        <table className="data accounts stack-on-phone">
          <caption className="visually-hidden">Accounts of the {name.toLowerCase()}</caption>
          <thead>
            <tr>
              <th scope="col">Account</th>
              <th scope="col" className="num">Balance</th>
              <th scope="col" className="num">Surplus</th>
              <th scope="col" className="num">Cash</th>
              <th scope="col" className="num">Contracts</th>
              <th scope="col" className="num">LEAPS</th>
              <th scope="col" className="num">Reserve</th>
              {act && <th scope="col"><span className="visually-hidden">Actions</span></th>}
            </tr>
          </thead>
          <tbody>
            {accounts.map((a) => (
              <tr key={a.id} data-account-id={a.id}>
                <th scope="row">
                  {ACCOUNT_NAME[a.type] ?? a.type}
                  {a.label && <span className="muted"> {a.label}</span>}
                  {a.status !== 'active' && <> <StatusBadge status={a.status} /></>}
                </th>
                <td className="num" data-label="Balance">{money(a.balance)}</td>
                <td className="num" data-label="Surplus">{money(a.surplus)}</td>
                <td className="num" data-label="Cash">{money(a.buckets.cash)}</td>
                <td className="num" data-label="Contracts">{money(a.buckets.contracts)}</td>
                <td className="num" data-label="LEAPS">{money(a.buckets.leaps)}</td>
                <td className="num" data-label="Reserve">{money(a.buckets.reserve)}</td>
                {act && (
                  <td className="actions-cell">
                    {a.status === 'active' && live && (
                      <div className="row-actions">
                        <AccountActions account={a} where={name} act={act} />
                      </div>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {live && gen?.status === 'active' && (
        <ProgressBar
          label={`Fork progress of the ${name.toLowerCase()}`}
          value={gen.surplus}
          limit={s.forkThreshold}
          detail={`Gen-Acc surplus ${money(gen.surplus)} of ${money(s.forkThreshold)}`}
        />
      )}
      {live && unit.kind === 'forked' && (
        <ProgressBar
          label={`Merge progress of the ${name.toLowerCase()}`}
          value={total.toFixed(2)}
          limit={s.mergeThreshold}
          detail={`unit total ${money(total)} of ${money(s.mergeThreshold)}`}
        />
      )}
      {act && live && unit.kind === 'forked' && (
        <div className="unit-actions">
          <button type="button" onClick={() => act({ kind: 'merge', unit, unitName: name })} aria-label={`Merge the ${name.toLowerCase()}…`}>
            Merge…
          </button>
        </div>
      )}
    </article>
  );
}

function AccountActions({ account, where, act }: { account: Account; where: string; act: (a: Action) => void }) {
  const label = `${ACCOUNT_NAME[account.type] ?? account.type} of the ${where.toLowerCase()}`;
  return (
    <>
      <button type="button" className="small" onClick={() => act({ kind: 'activity', account, accountName: label })} aria-label={`Record activity on the ${label}`}>
        Record activity
      </button>
      {account.type === 'gen' && (
        <button type="button" className="small" onClick={() => act({ kind: 'fork', account, accountName: label })} aria-label={`Fork the ${label}…`}>
          Fork…
        </button>
      )}
      {account.type !== 'gen' && (
        <button type="button" className="small" onClick={() => act({ kind: 'reinvest', account, accountName: label })} aria-label={`Reinvest the ${label}…`}>
          Reinvest…
        </button>
      )}
    </>
  );
}
