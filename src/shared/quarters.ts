/** Calendar quarters as "2026Q3". Workflow-safe. */
export const QUARTER_PATTERN = /^(\d{4})Q([1-4])$/;

export function quarterOf(d: Date): string {
  return `${d.getUTCFullYear()}Q${Math.floor(d.getUTCMonth() / 3) + 1}`;
}

/** The most recent quarter that has closed before `d`. */
export function lastClosedQuarter(d: Date): string {
  const year = d.getUTCFullYear();
  const q = Math.floor(d.getUTCMonth() / 3) + 1;
  return q === 1 ? `${year - 1}Q4` : `${year}Q${q - 1}`;
}

/** Sorts as strings: "2026Q3" < "2026Q4" < "2027Q1". */
export const compareQuarters = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
