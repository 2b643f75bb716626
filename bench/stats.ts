/** Value at quantile q (0..1) of the samples, nearest-rank. NaN when there are none. */
function quantile(samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export const median = (samples: number[]) => quantile(samples, 0.5);
export const max = (samples: number[]) => (samples.length ? Math.max(...samples) : Number.NaN);

export interface Distribution {
  p50: number;
  p99: number;
  n: number;
}

export function distribution(samples: number[]): Distribution {
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), n: samples.length };
}
