import type { ReactNode } from 'react';

/** A labelled form control with an optional hint, laid out the same everywhere. */
export function Field({ id, label, hint, children }: { id: string; label: string; hint?: ReactNode; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

/** Amounts the API accepts: up to 15 digits and 2 decimal places, no sign, no grouping. */
export const AMOUNT = /^(0|[1-9]\d{0,14})(\.\d{1,2})?$/;

/** "50,000" or " 50000.5 " -> "50000.5"; anything else stays as typed so validation can say so. */
export const cleanAmount = (raw: string): string => raw.trim().replace(/^\$/, '').replace(/,/g, '');
