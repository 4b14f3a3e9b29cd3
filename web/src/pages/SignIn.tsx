import { useState, type FormEvent } from 'react';
import { describeError, type Trouble } from '../api';
import { TroubleNote } from '../components/TroubleNote';

const KEY_SHAPE = /^[\x21-\x7e]{1,200}$/;

/** Why a key was refused, in words a person can act on. */
function explain(err: unknown): Trouble {
  const t = describeError(err);
  if (t.status === 401) {
    return {
      title: 'That API key was not accepted.',
      lines: ['Check that it was copied whole, with nothing added or missing (keys made by the engine start with alu_).', 'A revoked key stops working at once; an admin can create a new one.'],
      status: 401,
    };
  }
  if (t.status === 429) return { ...t, title: 'Too many attempts. Wait a minute, then try again.' };
  return t;
}

export function SignIn({ onSubmit, notice }: { onSubmit: (key: string) => Promise<void>; notice?: Trouble }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [trouble, setTrouble] = useState<Trouble | undefined>(notice);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const k = key.trim();
    if (!KEY_SHAPE.test(k)) {
      setTrouble({ title: 'Paste an API key (it starts with alu_).', lines: [] });
      return;
    }
    setBusy(true);
    setTrouble(undefined);
    try {
      await onSubmit(k);
    } catch (err) {
      setTrouble(explain(err));
      setBusy(false);
    }
  };

  return (
    <main className="signin" id="main">
      <form onSubmit={(e) => void submit(e)} className="card signin-card" aria-labelledby="signin-title">
        <h1 id="signin-title">ALL-USE Engine</h1>
        <p className="muted">Sign in with an API key. A viewer key can look at everything; an operator key can also record activity, start forks, merges and reinvestments, and decide tasks.</p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(e) => setKey(e.target.value)}
          placeholder="alu_…"
          required
          autoFocus
          aria-describedby="key-help"
        />
        <p id="key-help" className="hint">
          On its first start the engine writes an admin key to <code>.data/admin-api-key</code> and prints where it is. The key is kept
          for this browser tab only and forgotten when the tab closes.
        </p>
        <TroubleNote trouble={trouble} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
