/** Latency percentiles (nearest rank) and throughput helpers for the benchmark. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface Measured {
  ops: number;
  seconds: number;
  perSecond: number;
  p50?: number;
  p95?: number;
  p99?: number;
}

/** Runs `total` operations with at most `concurrency` in flight; records each one's latency in ms. */
export async function measure(total: number, concurrency: number, op: (i: number) => Promise<void>): Promise<Measured> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const t = performance.now();
      await op(i);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    ops: total, seconds, perSecond: total / seconds,
    p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99),
  };
}
