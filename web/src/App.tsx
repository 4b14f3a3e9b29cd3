import { useCallback, useEffect, useMemo, useState, type MouseEvent } from 'react';
import { clientFor, describeError, ok, type AlluseClient, type Role, type Trouble } from './api';
import { ErrorBoundary } from './components/ErrorBoundary';
import { SignIn } from './pages/SignIn';
import { PortfoliosPage } from './pages/PortfoliosPage';
import { PortfolioPage } from './pages/PortfolioPage';
import { forgetKey, storeKey, storedKey } from './session';
import { useRoute } from './router';

export interface Session {
  client: AlluseClient;
  role: Role;
  keyName: string;
  /** Forgets the key (after a 401 too: a revoked key signs the reader out). */
  signOut: (why?: Trouble) => void;
}

/** The skip link moves focus without touching the hash, which holds the route. */
function skipToMain(e: MouseEvent<HTMLAnchorElement>) {
  e.preventDefault();
  document.getElementById('main')?.focus();
}

/** Checks a key with GET /v1/me: the answer names its role, which decides what the page offers. */
async function signInWith(key: string): Promise<{ client: AlluseClient; role: Role; keyName: string }> {
  const client = clientFor(key);
  const me = await ok(client.GET('/v1/me'));
  return { client, role: me.role, keyName: me.name };
}

export function App() {
  const [session, setSession] = useState<Omit<Session, 'signOut'>>();
  const [restoring, setRestoring] = useState(() => storedKey() !== null);
  const [signedOutBecause, setSignedOutBecause] = useState<Trouble>();
  const route = useRoute();

  const signOut = useCallback((why?: Trouble) => {
    forgetKey();
    setSession(undefined);
    setSignedOutBecause(why);
  }, []);

  // A reload keeps the tab's key (sessionStorage): check it again rather than trusting it.
  useEffect(() => {
    const key = storedKey();
    if (!key) return;
    signInWith(key).then(
      (s) => setSession(s),
      (err: unknown) => {
        const trouble = describeError(err);
        if (trouble.status === 401) forgetKey();
        setSignedOutBecause(trouble.status === 401 ? { title: 'Your key is no longer accepted. Sign in again.', lines: [] } : trouble);
      },
    ).finally(() => setRestoring(false));
  }, []);

  const full = useMemo(() => session && { ...session, signOut }, [session, signOut]);

  if (restoring) return <p className="loading page-loading">Signing in…</p>;
  if (!full) {
    return (
      <SignIn
        notice={signedOutBecause}
        onSubmit={async (key) => {
          const s = await signInWith(key);
          storeKey(key);
          setSignedOutBecause(undefined);
          setSession(s);
        }}
      />
    );
  }
  return (
    <div className="app">
      <a className="skip" href="#main" onClick={skipToMain}>Skip to content</a>
      <header className="topbar">
        <a className="brand" href="#/">ALL-USE Engine</a>
        <nav aria-label="Site">
          <a href="#/">Portfolios</a>
          <a href="/docs" target="_blank" rel="noopener">API reference</a>
        </nav>
        <div className="who">
          <span className={`role role-${full.role}`} title={`Signed in with the key "${full.keyName}"`}>{full.role}</span>
          <button type="button" className="link" onClick={() => signOut()}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBoundary key={route.page === 'portfolio' ? route.id : 'list'}>
          {route.page === 'portfolio' ? <PortfolioPage key={route.id} session={full} id={route.id} /> : <PortfoliosPage session={full} />}
        </ErrorBoundary>
      </main>
    </div>
  );
}
