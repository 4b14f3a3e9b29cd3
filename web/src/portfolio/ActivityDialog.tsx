import { useState, type FormEvent } from 'react';
import { describeError, ok, type Account, type AlluseClient, type Trouble } from '../api';
import { AMOUNT, cleanAmount, Field } from '../components/Field';
import { Modal } from '../components/Modal';
import { TroubleNote } from '../components/TroubleNote';
import { money } from '../format';

const TYPES = [
  ['premium', 'Premium received'],
  ['realized_gain', 'Realized gain'],
  ['realized_loss', 'Realized loss'],
  ['fee', 'Fee'],
  ['assignment', 'Assignment loss'],
  ['deposit', 'Deposit'],
  ['withdrawal', 'Withdrawal'],
] as const;
type ActivityType = (typeof TYPES)[number][0];

/**
 * Records one activity. The Idempotency-Key is made when the dialog opens
 * and reused by every retry from it, so a second click after a lost answer
 * cannot post twice; a new dialog is a new activity.
 */
export function ActivityDialog({ client, account, accountName, onClose, onDone }: {
  client: AlluseClient; account: Account; accountName: string; onClose: () => void; onDone: () => void;
}) {
  const [key] = useState(() => crypto.randomUUID());
  const [type, setType] = useState<ActivityType>('premium');
  const [amount, setAmount] = useState('');
  const [date, setDate] = useState('');
  const [reference, setReference] = useState('');
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [trouble, setTrouble] = useState<Trouble>();
  const [posted, setPosted] = useState<{ balance: string; entryId: string }>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const value = cleanAmount(amount);
    if (!AMOUNT.test(value) || Number(value) === 0) {
      setTrouble({ title: 'Enter a positive amount such as 1250 or 1250.50 (at most 2 decimal places).', lines: [] });
      return;
    }
    setBusy(true);
    setTrouble(undefined);
    try {
      const r = await ok(
        client.POST('/v1/accounts/{id}/activity', {
          params: { path: { id: account.id }, header: { 'idempotency-key': key } },
          body: {
            type,
            amount: value,
            // Noon UTC: the entry lands on the chosen calendar day whatever the reader's time zone.
            ...(date && { occurredAt: `${date}T12:00:00.000Z` }),
            ...(reference.trim() && { reference: reference.trim() }),
            ...(note.trim() && { note: note.trim() }),
          },
        }),
      );
      setPosted({ balance: r.account.balance, entryId: r.entryId });
      onDone();
    } catch (err) {
      setTrouble(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title={`Record activity · ${accountName}`} onClose={onClose}>
      {posted ? (
        <div className="done" role="status">
          <p>
            Recorded. The balance is now <strong>{money(posted.balance)}</strong>.
          </p>
          <p className="muted small">Ledger entry {posted.entryId}</p>
          <button type="button" className="primary" onClick={onClose} autoFocus>
            Close
          </button>
        </div>
      ) : (
        <form className="form-grid" onSubmit={(e) => void submit(e)}>
          <Field id="act-type" label="Type">
            <select id="act-type" value={type} onChange={(e) => setType(e.target.value as ActivityType)} data-autofocus>
              {TYPES.map(([value, text]) => (
                <option key={value} value={value}>
                  {text}
                </option>
              ))}
            </select>
          </Field>
          <Field id="act-amount" label="Amount ($)" hint={`Balance now ${money(account.balance)}.`}>
            <input id="act-amount" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} required aria-describedby="act-amount-hint" />
          </Field>
          <Field id="act-date" label="Date (optional)" hint="Today when left empty.">
            <input id="act-date" type="date" value={date} onChange={(e) => setDate(e.target.value)} aria-describedby="act-date-hint" />
          </Field>
          <Field id="act-ref" label="Reference (optional)">
            <input id="act-ref" value={reference} onChange={(e) => setReference(e.target.value)} maxLength={200} />
          </Field>
          <Field id="act-note" label="Note (optional)">
            <input id="act-note" value={note} onChange={(e) => setNote(e.target.value)} maxLength={1000} />
          </Field>
          <TroubleNote trouble={trouble} />
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy}>
              {busy ? 'Recording…' : 'Record'}
            </button>
            <button type="button" onClick={onClose}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}
