const TONE: Record<string, string> = {
  completed: 'ok', active: 'ok', done: 'ok', approve: 'ok',
  running: 'info', waiting: 'warn', open: 'warn', pending: 'info',
  failed: 'bad', expired: 'bad', compensated: 'bad', cancelled: 'muted', merged: 'muted', closed: 'muted', reject: 'bad',
};

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${TONE[status] ?? 'muted'}`}>{status}</span>;
}
