/**
 * docs/metrics.md and docs/report.md say what scripts/metrics.ts and scripts/report/ define:
 * every series of every family in the table, the Envoy stats_config and the Istio annotations as
 * the shipped configs carry them, the objectives' defaults, and a --json example of the
 * documented shape.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import {
  envoyStatsConfig,
  istioStatsAnnotations,
} from "../../scripts/metrics.ts";
import { REPORT_JSON_SCHEMA } from "../../scripts/report/json.ts";
import { DEFAULT_OBJECTIVES } from "../../scripts/report/objectives.ts";
import { statsRows, statsTable } from "./docs-stats.ts";

const read = (path: string) =>
  readFileSync(
    fileURLToPath(new URL(`../../${path}`, import.meta.url)),
    "utf8",
  );
const METRICS = read("docs/metrics.md");
const REPORT = read("docs/report.md");

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
