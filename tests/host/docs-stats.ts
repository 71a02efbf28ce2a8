/**
 * docs/metrics.md's stats table as scripts/metrics.ts defines the metrics: one row per series, as
 * Prometheus shows it with the stats tags (tests/host/docs-metrics.test.ts keeps them equal).
 */
import { FAMILY_SPECS, TAGS } from "../../scripts/metrics.ts";

/** The rows: series, kind, what it counts (cells as docs/metrics.md writes them). */
export function statsRows(): string[][] {
  const rows: string[][] = [];
  for (const f of FAMILY_SPECS) {
    const perTarget = f.perTarget ?? true;
    if (f.label && f.values) {
      for (const [value, help] of f.values)
        rows.push([
          `\`${f.family}{${TAGS.target}, ${f.label}="${value}"}\``,
          f.kind,
          help,
        ]);
    } else
      rows.push([
        `\`${f.family}${perTarget ? `{${TAGS.target}}` : ""}\``,
        f.kind,
        f.kind === "histogram"
          ? `${f.help}, in µs (\`_bucket{le}\`, \`_sum\`, \`_count\`)`
          : f.help,
      ]);
  }
  return rows;
}

/** The table in Markdown (before prettier aligns it). */
export function statsTable(): string {
  return [
    "| series | kind | counts |",
    "| --- | --- | --- |",
    ...statsRows().map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}
