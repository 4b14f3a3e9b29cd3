/**
 * The web app reads and writes only through the engine's HTTP API, with the
 * same typed client as the command line (src/client: generated from the
 * API's OpenAPI document), on this page's own origin.
 */
import { ApiError, createAlluseClient, ok, type AlluseClient, type Schemas } from '../../src/client';

export { ApiError, ok };
export type { AlluseClient, Schemas };
export type Portfolio = Schemas['Portfolio'];
export type PortfolioSummary = Schemas['PortfolioSummary'];
export type Unit = Portfolio['units'][number];
export type Account = Schemas['Account'];
export type Operation = Schemas['Operation'] & { temporalUiUrl?: string };
export type Task = Schemas['Task'];
export type Role = 'viewer' | 'operator' | 'admin';

export const clientFor = (apiKey: string): AlluseClient => createAlluseClient({ baseUrl: window.location.origin, apiKey });

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
export const canAct = (role: Role): boolean => RANK[role] >= RANK.operator;

/** What went wrong, in the server's words: its problem document's detail, reasons and field errors. */
export interface Trouble {
  title: string;
  lines: string[];
  status?: number;
}

export function describeError(err: unknown): Trouble {
  if (err instanceof ApiError) {
    const p = err.problem as Schemas['Problem'] & { errors?: { path?: string; message?: string }[] };
    const lines = [...(p.reasons ?? [])];
    for (const e of p.errors ?? []) lines.push(e.path ? `${e.path}: ${e.message ?? 'invalid'}` : (e.message ?? 'invalid'));
    if (p.errorId && !p.detail.includes(p.errorId)) lines.push(`reference ${p.errorId}`);
    return { title: sentence(p.detail || p.title), lines, status: err.status };
  }
  if (err instanceof TypeError) return { title: 'The engine cannot be reached. Is it running?', lines: [String(err.message)] };
  return { title: 'Something went wrong.', lines: [String(err instanceof Error ? err.message : err)] };
}

const sentence = (s: string) => (s ? s.charAt(0).toUpperCase() + s.slice(1) : s);
