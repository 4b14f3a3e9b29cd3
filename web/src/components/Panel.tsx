import type { ReactNode } from 'react';

/** A titled section of a page; `id` lets the page link to it and labels the region for screen readers. */
export function Panel({ id, title, actions, children }: { id: string; title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <section className="panel" aria-labelledby={`${id}-title`} id={id}>
      <header className="panel-head">
        <h2 id={`${id}-title`} tabIndex={-1}>{title}</h2>
        {actions && <div className="panel-actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}
