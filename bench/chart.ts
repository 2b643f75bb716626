import type { ContenderResult } from './measure';

/** One panel of paired horizontal bars: a value per series, per contender. */
interface Panel {
  title: string;
  series: { name: string; color: string; value: (r: ContenderResult) => number }[];
  format: (v: number) => string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const LABEL_W = 210;
const BAR_W = 330;
const BAR_H = 13;
const GAP = 10;
const PANEL_W = LABEL_W + BAR_W + 90;

function panel(p: Panel, results: ContenderResult[], x: number, y: number): { svg: string; height: number } {
  const values = results.flatMap((r) => p.series.map((s) => s.value(r))).filter(Number.isFinite);
  const top = Math.max(...values, 1e-9);
  const out: string[] = [`<text x="${x}" y="${y + 14}" class="title">${esc(p.title)}</text>`];
  p.series.forEach((s, i) => {
    const lx = x + LABEL_W + i * 150;
    out.push(`<rect x="${lx}" y="${y + 24}" width="10" height="10" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 14}" y="${y + 33}">${esc(s.name)}</text>`);
  });
  let cy = y + 46;
  for (const r of results) {
    const groupH = p.series.length * BAR_H;
    out.push(`<text x="${x + LABEL_W - 8}" y="${cy + groupH / 2 + 4}" text-anchor="end">${esc(r.label)}</text>`);
    p.series.forEach((s, i) => {
      const v = s.value(r);
      const w = Number.isFinite(v) ? Math.max(1, (v / top) * BAR_W) : 0;
      const by = cy + i * BAR_H;
      out.push(`<rect x="${x + LABEL_W}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H - 2}" fill="${s.color}"/>`);
      out.push(
        `<text x="${(x + LABEL_W + w + 4).toFixed(1)}" y="${by + BAR_H - 3}" class="value">${esc(Number.isFinite(v) ? p.format(v) : 'n/a')}</text>`,
      );
    });
    cy += groupH + GAP;
  }
  return { svg: out.join('\n'), height: cy - y };
}

/** Latency and throughput by contender, as a self-contained SVG (no dependencies). */
export function renderChart(results: ContenderResult[], runAt: string): string {
  const latency = panel(
    {
      title: 'Latency p50 through createCaller (ms, lower is better)',
      series: [
        { name: 'first execution', color: '#8da0cb', value: (r) => r.latency.first.p50 },
        { name: 'replay', color: '#1b5fa8', value: (r) => r.latency.replay.p50 },
      ],
      format: (v) => `${v.toFixed(3)} ms`,
    },
    results,
    20,
    20,
  );
  const throughput = panel(
    {
      title: 'Throughput at concurrency 32 (calls/s, higher is better)',
      series: [
        { name: 'unique keys', color: '#fc8d62', value: (r) => r.throughput.unique },
        { name: 'replays', color: '#c2410c', value: (r) => r.throughput.replay },
      ],
      format: (v) => Math.round(v).toLocaleString('en-US'),
    },
    results,
    20 + PANEL_W,
    20,
  );
  const row2 = 20 + Math.max(latency.height, throughput.height) + 20;
  const withCpu = results.filter((r) => r.cpu);
  const cpu = panel(
    {
      title: 'Node CPU per call at concurrency 32 (µs, lower is better)',
      series: [
        { name: 'first execution', color: '#66c2a5', value: (r) => r.cpu?.first.nodeMicros ?? Number.NaN },
        { name: 'replay', color: '#1a7f5a', value: (r) => r.cpu?.replay.nodeMicros ?? Number.NaN },
      ],
      format: (v) => `${v.toFixed(1)} µs`,
    },
    withCpu,
    20,
    row2,
  );
  const redisCpu = panel(
    {
      title: "Redis CPU per call, on the contender's own server (µs, lower is better)",
      series: [
        { name: 'first execution', color: '#e78ac3', value: (r) => r.cpu?.first.redisMicros ?? Number.NaN },
        { name: 'replay', color: '#a3306f', value: (r) => r.cpu?.replay.redisMicros ?? Number.NaN },
      ],
      format: (v) => `${v.toFixed(1)} µs`,
    },
    withCpu.filter((r) => r.cpu?.first.redisMicros !== undefined),
    20 + PANEL_W,
    row2,
  );
  const width = 40 + 2 * PANEL_W;
  const height = row2 + Math.max(cpu.height, redisCpu.height) + 30;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">
<style>.title{font-weight:600;font-size:13px}.value{fill:#444;font-size:11px}.note{fill:#666;font-size:11px}</style>
<rect width="100%" height="100%" fill="#fff"/>
${latency.svg}
${throughput.svg}
${cpu.svg}
${redisCpu.svg}
<text x="20" y="${height - 10}" class="note">trpc-idempotency benchmark, ${esc(runAt)}. One redis-server per contender on loopback; compare ratios within one run, not absolute values.</text>
</svg>
`;
}
