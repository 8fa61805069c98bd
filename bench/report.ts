/** Markdown pieces of the benchmark report, and the section headings a run always prints. */

export const TITLE = '# Kapsa benchmarks';

export const SECTIONS = {
  machine: '## Machine',
  http: '## Hook throughput and latency (HTTP)',
  halfLoad: '## p99 at half of the maximum load',
  etag: '## ETag (If-None-Match → 304)',
  memory: '## Memory (RSS of the server process)',
  inProcess: '## In-process cost per call',
  scale: '## Scale (one core)',
  git: '## Git polling',
  engine: '## The whole chain on the real engine',
  targets: '## Targets',
} as const;

export type SectionKey = keyof typeof SECTIONS;

export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** `1234567` → `1,234,567`; fractions to `digits` places. */
export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A duration in milliseconds, with a unit that keeps three significant digits readable. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value < 0) return `-${ms(-value)}`;
  if (value < 0.01) return `${num(value * 1000, 2)} µs`;
  if (value < 1) return `${num(value * 1000, 0)} µs`;
  if (value < 10) return `${num(value, 2)} ms`;
  if (value < 1000) return `${num(value, 1)} ms`;
  return `${num(value / 1000, 2)} s`;
}

export function bytes(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (value < 1024) return `${num(value)} B`;
  if (value < 1024 * 1024) return `${num(value / 1024, 1)} KiB`;
  if (value < 1024 * 1024 * 1024) return `${num(value / 1024 / 1024, 1)} MiB`;
  return `${num(value / 1024 / 1024 / 1024, 2)} GiB`;
}

/** `value / floor` as `0.42×`. */
export function ratio(value: number, floor: number): string {
  if (!Number.isFinite(value) || !Number.isFinite(floor) || floor === 0) return 'n/a';
  const r = value / floor;
  if (r > 0 && r < 0.1) return `${Number(r.toPrecision(2))}×`;
  return `${num(r, r >= 100 ? 0 : r >= 10 ? 1 : 2)}×`;
}

export function percentile(sorted: Float64Array | readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return percentile(sorted, 50);
}
