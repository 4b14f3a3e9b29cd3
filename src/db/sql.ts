/**
 * MikroORM hands timestamps from raw queries back as PostgreSQL text
 * ("2026-11-27 23:38:22.597+00"); this turns one into a Date.
 */
export function pgDate(value: string | Date): Date {
  if (value instanceof Date) return value;
  const iso = value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new Error(`unreadable timestamp ${value}`);
  return d;
}
export const pgIso = (value: string | Date): string => pgDate(value).toISOString();
