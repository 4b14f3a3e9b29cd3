import type { Trouble } from '../api';

/** An error from the API, as its problem document states it; announced to screen readers. */
export function TroubleNote({ trouble }: { trouble: Trouble | undefined }) {
  if (!trouble) return null;
  return (
    <div className="trouble" role="alert">
      <strong>{trouble.title}</strong>
      {trouble.lines.length > 0 && (
        <ul>
          {trouble.lines.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
