import { useState, type FormEvent } from 'react';
import type { Session } from '../App';
import { canAct, describeError, ok, type Trouble } from '../api';
import { AMOUNT, cleanAmount, Field } from '../components/Field';
import { Panel } from '../components/Panel';
import { TroubleNote } from '../components/TroubleNote';
import { day, money } from '../format';
import { useLoad } from '../hooks';
import { hrefOf, navigate } from '../router';

export function PortfoliosPage({ session }: { session: Session }) {
  const { client } = session;
  const list = useLoad(() => ok(client.GET('/v1/portfolios')), 'portfolios');
  const [creating, setCreating] = useState(false);
  const items = list.data?.items ?? [];

  return (
    <div className="page">
      <div className="page-head">
        <h1>Portfolios</h1>
        {canAct(session.role) && !creating && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New portfolio
          </button>
        )}
      </div>
      {creating && <CreatePortfolio session={session} onCancel={() => setCreating(false)} />}
      <Panel id="portfolios" title="Your portfolios">
        <TroubleNote trouble={list.error} />
        {list.loading && !list.data ? (
          <p className="loading">Loading…</p>
        ) : items.length === 0 ? (
          <p className="muted">No portfolio yet.{canAct(session.role) ? ' Create one to start: its capital is split into a Gen-Acc, a Rev-Acc and a Com-Acc.' : ''}</p>
        ) : (
          <div className="table-wrap">
            <table className="data">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Template</th>
                  <th scope="col" className="num">Initial capital</th>
                  <th scope="col">Opened</th>
                </tr>
              </thead>
              <tbody>
                {items.map((p) => (
                  <tr key={p.id}>
                    <th scope="row">
                      <a href={hrefOf({ page: 'portfolio', id: p.id })}>{p.name}</a>
                    </th>
                    <td>{p.owner}</td>
                    <td>{p.template}</td>
                    <td className="num">{money(p.initialCapital)}</td>
                    <td>{day(p.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Panel>
    </div>
  );
}

const TEMPLATES = ['moderate', 'conservative', 'aggressive'] as const;

function CreatePortfolio({ session, onCancel }: { session: Session; onCancel: () => void }) {
  const [name, setName] = useState('');
  const [owner, setOwner] = useState(session.keyName);
  const [capital, setCapital] = useState('');
  const [template, setTemplate] = useState<(typeof TEMPLATES)[number]>('moderate');
  const [approvals, setApprovals] = useState({ fork: false, merge: false, reinvestment: false });
  const [busy, setBusy] = useState(false);
  const [trouble, setTrouble] = useState<Trouble>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const amount = cleanAmount(capital);
    if (!AMOUNT.test(amount) || Number(amount) === 0) {
      setTrouble({ title: 'Enter the initial capital as an amount such as 250000 or 250000.00.', lines: [] });
      return;
    }
    setBusy(true);
    setTrouble(undefined);
    try {
      const p = await ok(session.client.POST('/v1/portfolios', { body: { name: name.trim(), owner: owner.trim(), initialCapital: amount, template, settings: { approvals } } }));
      navigate({ page: 'portfolio', id: p.id });
    } catch (err) {
      setTrouble(describeError(err));
      setBusy(false);
    }
  };

  return (
    <Panel id="new-portfolio" title="New portfolio">
      <form className="form-grid" onSubmit={(e) => void submit(e)}>
        <Field id="pf-name" label="Name">
          <input id="pf-name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} autoFocus />
        </Field>
        <Field id="pf-owner" label="Owner">
          <input id="pf-owner" value={owner} onChange={(e) => setOwner(e.target.value)} required maxLength={200} />
        </Field>
        <Field id="pf-capital" label="Initial capital ($)" hint="Split by the template into the Gen-Acc, Rev-Acc and Com-Acc.">
          <input id="pf-capital" inputMode="decimal" value={capital} onChange={(e) => setCapital(e.target.value)} required aria-describedby="pf-capital-hint" />
        </Field>
        <Field id="pf-template" label="Template">
          <select id="pf-template" value={template} onChange={(e) => setTemplate(e.target.value as (typeof TEMPLATES)[number])}>
            {TEMPLATES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </Field>
        <fieldset className="checks">
          <legend>Wait for my approval before each</legend>
          {(['fork', 'merge', 'reinvestment'] as const).map((kind) => (
            <label key={kind}>
              <input type="checkbox" checked={approvals[kind]} onChange={(e) => setApprovals({ ...approvals, [kind]: e.target.checked })} /> {kind}
            </label>
          ))}
        </fieldset>
        <TroubleNote trouble={trouble} />
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create portfolio'}
          </button>
          <button type="button" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
        </div>
      </form>
    </Panel>
  );
}
