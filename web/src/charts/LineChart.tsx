import { useEffect, useId, useRef, type ReactNode } from 'react';
import type { ChartDataset } from 'chart.js';
import { Chart, COLOR, reducedMotion, resolveColor, withAlpha } from './setup';
import '../portfolio/panels.css';

export interface ChartSeries {
  label: string;
  /** Chart coordinates only (Number(decimalString) is fine here); null leaves a gap. */
  values: readonly (number | null)[];
  /** Any CSS colour, or `var(--accent, #2563eb)` (see COLOR in setup.ts). */
  color?: string;
  /** Bars only: one colour per value (for example gains and losses). */
  pointColors?: readonly string[];
  /** Lines only: shade the area under the line. */
  fill?: boolean;
  /** Lines only: stroke width (default 2) and dash pattern. */
  width?: number;
  dash?: number[];
}

export interface ChartTable {
  caption: string;
  columns: { label: string; numeric?: boolean }[];
  /** Formatted cells (money(), percent(), dates); the first cell is the row's header. */
  rows: { key: string; cells: ReactNode[] }[];
}

export interface LineChartProps {
  /** The visible heading above the chart. */
  title: string;
  /** What the chart shows, in words: the canvas's accessible name. */
  description: string;
  labels: readonly string[];
  series: readonly ChartSeries[];
  /** The same numbers as a table, always rendered under "Show the numbers". */
  table: ChartTable;
  /** Fixed for the chart's life in practice; a change recreates the chart. */
  kind?: 'line' | 'bar';
  /** The y axis's tick labels, e.g. compactMoney. */
  yTick?: (value: number) => string;
  /** A tooltip line for one point, from the exact values (money(), percent()), not the plotted float. */
  tooltip?: (seriesIndex: number, index: number) => string;
  headingLevel?: 3 | 4;
}

type Kind = 'line' | 'bar';
type AnyChart = Chart<Kind, (number | null)[], string>;

/**
 * A Chart.js chart as a React component: created on mount, updated when its
 * labels or series change (pass memoised arrays), destroyed on unmount. The
 * canvas is an image with an accessible name; the numbers behind it are in a
 * table beside it, for keyboard and screen-reader users and for tests.
 */
export function LineChart({ title, description, labels, series, table, kind = 'line', yTick, tooltip, headingLevel = 3 }: LineChartProps) {
  const headingId = `${useId()}-chart`;
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const chartRef = useRef<AnyChart | null>(null);
  // The formatters are read when Chart.js draws, so a new function from the parent needs no chart update.
  const format = useRef({ yTick, tooltip });
  useEffect(() => {
    format.current = { yTick, tooltip };
  });

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const muted = resolveColor(COLOR.muted, canvas);
    const grid = withAlpha(resolveColor(COLOR.border, canvas), 0.7);
    const chart: AnyChart = new Chart<Kind, (number | null)[], string>(canvas, {
      type: kind,
      data: { labels: [], datasets: [] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reducedMotion() ? false : { duration: 250 },
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: { ticks: { color: muted, maxRotation: 0, autoSkip: true, autoSkipPadding: 12 }, grid: { display: false } },
          y: {
            beginAtZero: kind === 'bar',
            ticks: { color: muted, maxTicksLimit: 6, callback: (v) => format.current.yTick?.(Number(v)) ?? String(v) },
            grid: { color: grid },
          },
        },
        plugins: {
          legend: { display: false, position: 'bottom', labels: {
              color: resolveColor(COLOR.fg, canvas),
              boxWidth: 24,
              boxHeight: 12,
              // A line's legend shows its stroke and dash, so the series are told apart without colour too.
              ...(kind === 'line' && { usePointStyle: true, pointStyle: 'line' as const }),
            },
          },
          tooltip: {
            callbacks: {
              label: (item) => format.current.tooltip?.(item.datasetIndex, item.dataIndex) ?? `${item.dataset.label ?? ''}: ${item.formattedValue}`,
            },
          },
        },
      },
    });
    chartRef.current = chart;
    return () => {
      chart.destroy();
      chartRef.current = null;
    };
  }, [kind]);

  useEffect(() => {
    const chart = chartRef.current;
    const canvas = canvasRef.current;
    if (!chart || !canvas) return;
    chart.data.labels = [...labels];
    chart.data.datasets = series.map((s) => toDataset(s, kind, canvas));
    if (chart.options.plugins?.legend) chart.options.plugins.legend.display = series.length > 1;
    chart.update();
  }, [labels, series, kind]);

  const Heading = headingLevel === 4 ? 'h4' : 'h3';
  return (
    <div className="chart">
      <Heading id={headingId} className="chart__title">
        {title}
      </Heading>
      <div className="chart__box">
        <canvas ref={canvasRef} role="img" aria-label={description} />
      </div>
      <details className="chart__data">
        <summary>Show the numbers</summary>
        <div className="table-wrap chart__table-wrap">
          <table className="data">
            <caption>{table.caption}</caption>
            <thead>
              <tr>
                {table.columns.map((c) => (
                  <th key={c.label} scope="col" className={c.numeric ? 'num' : undefined}>
                    {c.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {table.rows.map((row) => (
                <tr key={row.key}>
                  {row.cells.map((cell, i) =>
                    i === 0 ? (
                      <th key={i} scope="row">
                        {cell}
                      </th>
                    ) : (
                      <td key={i} className={table.columns[i]?.numeric ? 'num' : undefined}>
                        {cell}
                      </td>
                    ),
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}

function toDataset(s: ChartSeries, kind: Kind, canvas: HTMLCanvasElement): ChartDataset<Kind, (number | null)[]> {
  const color = resolveColor(s.color ?? COLOR.accent, canvas);
  const data = [...s.values];
  if (kind === 'bar') {
    return {
      type: 'bar',
      label: s.label,
      data,
      backgroundColor: s.pointColors ? s.pointColors.map((c) => resolveColor(c, canvas)) : color,
      borderRadius: 2,
      maxBarThickness: 32,
    };
  }
  const many = data.length > 40;
  return {
    type: 'line',
    label: s.label,
    data,
    borderColor: color,
    backgroundColor: s.fill ? withAlpha(color, 0.12) : color,
    fill: s.fill ? 'origin' : false,
    borderWidth: s.width ?? 2,
    ...(s.dash && { borderDash: s.dash }),
    pointRadius: many ? 0 : 3,
    pointHoverRadius: 5,
    pointHitRadius: 8,
    tension: 0.2,
    spanGaps: true,
  };
}
