import { progress } from '../format';

/**
 * How far `value` is toward `limit`, as an accessible progressbar: the
 * visible text and aria-valuetext say the amounts; the fill turns green when
 * the threshold is reached.
 */
export function ProgressBar({ label, value, limit, detail }: { label: string; value: string; limit: string; detail: string }) {
  const p = progress(value, limit);
  return (
    <div className={`progress${p.reached ? ' reached' : ''}`}>
      <div className="progress-text">
        <span>{label}</span>
        <span>
          {detail} <strong>{p.label}</strong>
          {p.reached && <span className="badge ok"> threshold reached</span>}
        </span>
      </div>
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(p.pct * 10) / 10}
        aria-valuetext={`${detail}: ${p.label}${p.reached ? ', threshold reached' : ''}`}
      >
        <div className="progress-fill" style={{ width: `${p.pct}%` }} />
      </div>
    </div>
  );
}
