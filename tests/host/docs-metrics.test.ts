/**
 * docs/metrics.md and docs/report.md say what scripts/metrics.ts and scripts/report/ define:
 * every series of every family in the table, the Envoy stats_config and the Istio annotations as
 * the shipped configs carry them, the objectives' defaults, and a --json example of the
 * documented shape; and every metric, label and label value the README and the docs name inline
 * is one scripts/metrics.ts defines.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import {
  BASELINE_INFO,
  envoyStatsConfig,
  FAMILY_SPECS,
  istioStatsAnnotations,
  TAGS,
} from "../../scripts/metrics.ts";
import { REPORT_JSON_SCHEMA } from "../../scripts/report/json.ts";
import { DEFAULT_OBJECTIVES } from "../../scripts/report/objectives.ts";
import { statsRows, statsTable } from "./docs-stats.ts";
import { REPO_ROOT, repoText } from "../../tools/paths.ts";

const METRICS = repoText("docs/metrics.md");
const REPORT = repoText("docs/report.md");

/** The fenced block of `lang` that follows `after`. */
function blockAfter(text: string, after: string, lang: string): string {
  const at = text.indexOf(after);
  assert.ok(at >= 0, `no "${after}"`);
  const m = new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(
    text.slice(at),
  );
  assert.ok(m, `no ${lang} block after "${after}"`);
  return m[1];
}

it("the stats table lists every series of scripts/metrics.ts, with its kind and what it counts", () => {
  const rows = METRICS.split("\n")
    .filter((l) => l.startsWith("| `mirror_"))
    .map((l) =>
      l.split(" | ").map((c) => c.replace(/^\| |\s*\|$/g, "").trim()),
    );
  assert.deepEqual(
    rows,
    statsRows(),
    `docs/metrics.md's table should be:\n${statsTable()}`,
  );
});

it("the stats_config snippet is the shipped one, and the Istio annotations are istio/kitchen.yaml's", () => {
  assert.deepEqual(
    parseYaml(
      blockAfter(
        METRICS,
        "give yours the same bootstrap `stats_config`",
        "yaml",
      ),
    ),
    { stats_config: envoyStatsConfig() },
  );
  assert.deepEqual(
    parseYaml(blockAfter(METRICS, "## Labels in Istio", "yaml")),
    istioStatsAnnotations(),
  );
});

it("the objectives block is the defaults, and the --json example has the documented shape", () => {
  assert.deepEqual(
    JSON.parse(
      blockAfter(
        REPORT,
        "a JSON file given to `--objectives` overrides",
        "json",
      ),
    ),
    DEFAULT_OBJECTIVES,
  );
  const example = JSON.parse(
    blockAfter(REPORT, "## `--json`", "json"),
  ) as Record<string, unknown>;
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat("date-time", (s: string) => !Number.isNaN(Date.parse(s)));
  const validate = ajv.compile(REPORT_JSON_SCHEMA as object);
  assert.ok(validate(example), JSON.stringify(validate.errors));
  assert.deepEqual(example.objectives, DEFAULT_OBJECTIVES);
});

it("the --json example's counts agree: every answered copy is compared or not (statuses are compared by default)", () => {
  const example = JSON.parse(blockAfter(REPORT, "## `--json`", "json")) as {
    targets: { counts: Record<string, Record<string, number> | number> }[];
  };
  const sum = (o: unknown) =>
    Object.values((o ?? {}) as Record<string, number>).reduce(
      (a, b) => a + b,
      0,
    );
  for (const { counts } of example.targets) {
    if (counts.compared === undefined) continue;
    const judged = sum(counts.compared) + sum(counts.not_compared);
    assert.ok(
      Math.abs(judged - sum(counts.dark)) < 0.01,
      `compared + not compared ${judged} ≠ dark answers ${sum(counts.dark)}`,
    );
  }
});

/** Inline code spans of the README and the docs (fenced blocks aside), with where they are. */
function inlineCode(): { code: string; where: string }[] {
  const pages = [
    "README.md",
    "istio/README.md",
    ...readdirSync(join(REPO_ROOT, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
  const out: { code: string; where: string }[] = [];
  for (const page of pages) {
    let fenced = false;
    repoText(page)
      .split("\n")
      .forEach((line, i) => {
        if (/^\s*```/.test(line)) fenced = !fenced;
        else if (!fenced)
          for (const m of line.matchAll(/`([^`]+)`/g))
            out.push({ code: m[1], where: `${page}:${i + 1}` });
      });
  }
  return out;
}

it("every metric, label and label value the README and the docs name is one of scripts/metrics.ts", () => {
  const families = new Map<
    string,
    { family: string; label?: string; values?: Array<[string, string]> }
  >([...FAMILY_SPECS, BASELINE_INFO].map((f) => [f.family, f]));
  const tags = new Set<string>(Object.values(TAGS));
  const valuesOf = (label: string) =>
    new Set(
      FAMILY_SPECS.filter((f) => f.label === label).flatMap((f) =>
        (f.values ?? []).map(([v]) => v),
      ),
    );
  const wrong: string[] = [];
  for (const { code, where } of inlineCode()) {
    const bad = (why: string) => wrong.push(`${where}: \`${code}\`: ${why}`);
    // A family (or a series of it, or a label) by its Prometheus name.
    const named = /^(mirror_[a-z_]+)(?:\{(.*)\})?(?: \S+)?$/.exec(code);
    if (named && !code.includes("___")) {
      const base = named[1].replace(/_(bucket|sum|count)$/, "");
      const family = families.get(named[1]) ?? families.get(base);
      if (!family && !tags.has(named[1])) bad("no such family or label");
      for (const part of (named[2] ?? "").split(/,\s*/).filter(Boolean)) {
        const [label, value] = part.split("=");
        if (!tags.has(label)) bad(`no label ${label}`);
        else if (
          value !== undefined &&
          label !== TAGS.target &&
          label !== TAGS.baseline &&
          !valuesOf(label).has(value.replace(/^"|"$/g, ""))
        )
          bad(`${label} has no value ${value}`);
      }
      continue;
    }
    // A family's series by its short name: `skipped{over_budget}`.
    const short = /^([a-z][a-z_]*)\{([a-z0-9_]+)\}$/.exec(code);
    if (short) {
      const family = families.get(`mirror_${short[1]}_total`);
      if (!family) bad("no such family");
      else if (!(family.values ?? []).some(([v]) => v === short[2]))
        bad(`${family.family} has no ${family.label}="${short[2]}"`);
      continue;
    }
    // A label and its value alone: `mirror_reason="unknown_cluster"`.
    const pair = /^(mirror_[a-z]+)="([^"]*)"$/.exec(code);
    if (pair && pair[1] !== TAGS.target && !valuesOf(pair[1]).has(pair[2]))
      bad("no such label value");
    // A bare name that reads as a metric: `dispatch_failed`, `copies_total`.
    if (
      /^[a-z]+(_[a-z]+)*_(failed|failures|total)$/.test(code) &&
      !(code in DEFAULT_OBJECTIVES) &&
      !families.has(`mirror_${code}`) &&
      !families.has(`mirror_${code}_total`)
    )
      bad("reads as a metric, but scripts/metrics.ts has no such family");
  }
  assert.deepEqual(wrong, []);
});
