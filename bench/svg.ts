// The latency chart of RESULTS.md: latency by percentile (HdrHistogram style: x is the number of
// nines, log y), one line per configuration, as a self-contained SVG.

/** One configuration's curve: [percentile 0..1, latency µs] points, ascending. */
export interface Curve {
  label: string;
  points: Array<[number, number]>;
}

const COLORS = [
  "#222222",
  "#1f77b4",
  "#2ca02c",
  "#d62728",
  "#ff7f0e",
  "#9467bd",
];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

/** Renders `curves` (percentiles up to 1 - 10^-maxNines) as an SVG document. */
export function latencyChart(
  curves: Curve[],
  title: string,
  maxNines = 4,
): string {
  const W = 840;
  const H = 420;
  const L = 70;
  const R = 250;
  const T = 40;
  const B = 50;
  const pw = W - L - R;
  const ph = H - T - B;
  const nines = (p: number) =>
    Math.min(maxNines, -Math.log10(Math.max(1 - p, 10 ** -maxNines)));
  const ys = curves
    .flatMap((c) => c.points.map(([, y]) => y))
    .filter((y) => y > 0);
  const lo = Math.log10(Math.max(1, Math.min(...ys)));
  const hi = Math.log10(Math.max(...ys));
  const y0 = Math.floor(lo * 3) / 3;
  const y1 = Math.ceil(hi * 3) / 3 + 1e-9;
  const X = (p: number) => L + (nines(p) / maxNines) * pw;
  const Y = (v: number) =>
    T + ph - ((Math.log10(Math.max(v, 1)) - y0) / (y1 - y0)) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
  );
  // x grid: 0, 90, 99, 99.9, 99.99 %
  const xlabels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
  for (let n = 0; n <= maxNines; n++) {
    const x = L + (n / maxNines) * pw;
    out.push(
      `<line x1="${x}" y1="${T}" x2="${x}" y2="${T + ph}" stroke="#ddd"/>`,
      `<text x="${x}" y="${T + ph + 16}" text-anchor="middle">${xlabels[n]}</text>`,
    );
  }
  out.push(
    `<text x="${L + pw / 2}" y="${H - 10}" text-anchor="middle">percentile</text>`,
  );
  // y grid: 1-2-5 steps
  for (let e = Math.floor(y0); e <= Math.ceil(y1); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      const lv = Math.log10(v);
      if (lv < y0 - 1e-9 || lv > y1) continue;
      const y = Y(v);
      const text = v >= 1000 ? `${v / 1000} ms` : `${v} µs`;
      out.push(
        `<line x1="${L}" y1="${y}" x2="${L + pw}" y2="${y}" stroke="${m === 1 ? "#ccc" : "#eee"}"/>`,
        `<text x="${L - 6}" y="${y + 4}" text-anchor="end">${text}</text>`,
      );
    }
  }
  out.push(
    `<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
  );
  curves.forEach((c, i) => {
    const color = COLORS[i % COLORS.length];
    const d = c.points
      .filter(([p]) => p <= 1 - 10 ** -maxNines + 1e-12)
      .map(
        ([p, v], j) => `${j ? "L" : "M"}${X(p).toFixed(1)},${Y(v).toFixed(1)}`,
      )
      .join(" ");
    out.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"/>`,
    );
    const ly = T + 14 + i * 20;
    out.push(
      `<line x1="${L + pw + 14}" y1="${ly - 4}" x2="${L + pw + 38}" y2="${ly - 4}" stroke="${color}" stroke-width="2.5"/>`,
      `<text x="${L + pw + 44}" y="${ly}">${esc(c.label)}</text>`,
    );
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** The percentiles a curve is drawn through (dense near the tail). */
export function curvePercentiles(maxNines = 4): number[] {
  const ps: number[] = [];
  for (let i = 0; i <= 90; i += 2) ps.push(i / 100);
  for (let n = 1; n < maxNines; n++) {
    const base = 1 - 10 ** -n;
    for (let k = 1; k < 10; k++) ps.push(base + (k / 10) * 10 ** -n);
  }
  ps.push(1 - 10 ** -maxNines);
  return ps;
}
