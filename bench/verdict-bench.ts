// `npm run bench -- --verdict`: the issue's table in the real Envoy — every case of verdict.ts,
// 5 runs per regression and 20 per healthy version, each with fresh upstreams and a fresh Envoy,
// 2,000 mirrored requests, the real report with the default objectives — and its table as a
// section of bench/RESULTS.md of its own (between markers; the rest of the file is untouched).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../tools/paths.ts";
import { ensureEnvoy } from "../tools/provision/envoy.ts";
import { DEFAULT_OBJECTIVES } from "../scripts/report/objectives.ts";
import { WASM } from "./envoy.ts";
import {
  benchCommand,
  commandVersion,
  cpuModel,
  loadAverage,
  median,
} from "./machine.ts";
import {
  CASES,
  caseById,
  type RunResult,
  runCase,
  type VerdictCase,
} from "./verdict.ts";
import { JITTER_MS, WORK_MEDIAN_MS, WORK_P95_MS } from "./verdict-service.ts";

const RESULTS_MD = join(REPO_ROOT, "bench", "RESULTS.md");
export const BEGIN = "<!-- verdict: written by npm run bench -- --verdict -->";
export const END = "<!-- verdict: end -->";

/** The requests of each run, and at most this many (the issue's bound). */
export const REQUESTS = 2000;
/** Requests in flight at once (runCase's default): 2,000 in a few seconds, far under max_inflight. */
export const CONCURRENCY = 8;

export interface VerdictBenchOptions {
  /** the first run's seed [random]; run r of case k uses seed + 1000·k + r */
  seed?: number;
  /** only these cases (ids) */
  cases?: string[];
  /** runs per case instead of the case's (5 or 20) */
  runs?: number;
  requests?: number;
}

interface CaseResults {
  case: VerdictCase;
  runs: RunResult[];
}

const log = (s: string) => process.stderr.write(s + "\n");

function git(...args: string[]): string {
  return (
    spawnSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).stdout ?? ""
  ).trim();
}

/** "commit abc1234" of the tree, and of the last change to `path`, noting uncommitted changes. */
function sourceOf(path: string): string {
  const last = git("log", "-1", "--format=%h", "--", path);
  const dirty = git("status", "--porcelain", path) !== "";
  return `${path} last changed in ${last}${dirty ? ", with uncommitted changes" : ""}`;
}

export async function verdictBench(o: VerdictBenchOptions): Promise<void> {
  const requests = o.requests ?? REQUESTS;
  const seed = o.seed ?? Math.floor(Math.random() * 1_000_000);
  const cases = o.cases ? o.cases.map(caseById) : [...CASES];
  const { bin } = await ensureEnvoy();
  const envoy =
    commandVersion(bin, ["--version"]).replace(/^.*version:\s*/, "") || bin;
  const loadBefore = loadAverage();
  const started = performance.now();
  log(
    `bench --verdict: ${cases.length} cases, seed ${seed}, ${requests} requests per run; load average ${loadBefore.join(" ")}`,
  );
  const results: CaseResults[] = [];
  for (const c of cases) {
    const k = CASES.indexOf(c);
    const runs = o.runs ?? c.runs;
    const done: RunResult[] = [];
    for (let r = 0; r < runs; r++) {
      const x = await runCase(c, {
        envoy: bin,
        seed: seed + 1000 * k + r,
        requests,
        concurrency: CONCURRENCY,
      });
      done.push(x);
      log(
        `  ${c.id} ${r + 1}/${runs} seed ${x.seed}: exit ${x.exitCode}` +
          (x.failed.length ? `, failed ${x.failed.join(", ")}` : "") +
          (x.notEnough.length
            ? `, not enough data ${x.notEnough.join(", ")}`
            : "") +
          ` — ${x.met ? "met" : `NOT MET (${x.why})`} (${x.seconds.toFixed(1)} s of traffic)`,
      );
    }
    results.push({ case: c, runs: done });
  }
  const minutes = (performance.now() - started) / 60_000;
  const section = renderSection({
    date: new Date().toISOString(),
    command: benchCommand(),
    seed,
    requests,
    minutes,
    loadBefore,
    loadAfter: loadAverage(),
    envoy,
    wasmBytes: existsSync(WASM) ? readFileSync(WASM).length : 0,
    head: git("rev-parse", "--short", "HEAD"),
    results,
  });
  // RESULTS.md is written as rendered (prettier leaves it alone)
  writeFileSync(
    RESULTS_MD,
    replaceSection(
      existsSync(RESULTS_MD) ? readFileSync(RESULTS_MD, "utf8") : "",
      section,
    ),
  );
  process.stdout.write(section + "\n");
  log(`bench --verdict: wrote its section of bench/RESULTS.md`);
  const missed = results.filter((x) => !caseMet(x));
  if (missed.length)
    log(
      `bench --verdict: must-show not met: ${missed.map((x) => x.case.id).join(", ")}`,
    );
}

/** `md` with the verdict section replaced, or appended when it has none. */
export function replaceSection(md: string, section: string): string {
  const block = `${BEGIN}\n\n${section.trim()}\n\n${END}\n`;
  const a = md.indexOf(BEGIN);
  const b = md.indexOf(END);
  if (a >= 0 && b > a)
    return md.slice(0, a) + block + md.slice(b + END.length).replace(/^\n/, "");
  return (md.trimEnd() ? md.trimEnd() + "\n\n" : "") + block;
}

/**
 * The verdict section of the RESULTS.md at `file` (markers included), to carry over when the rest
 * of the file is rendered again; "" when it has none.
 */
export function verdictSectionOf(file = RESULTS_MD): string {
  if (!existsSync(file)) return "";
  const md = readFileSync(file, "utf8");
  const a = md.indexOf(BEGIN);
  const b = md.indexOf(END);
  return a >= 0 && b > a ? md.slice(a, b + END.length) + "\n" : "";
}

/** Which runs met the must: caught (fail) or passed. */
function metCount(x: CaseResults): number {
  return x.runs.filter((r) => r.met).length;
}

/** The issue's bar: a regression caught in ≥ 4 of 5, a healthy version passing in ≥ 19 of 20. */
export function caseMet(x: CaseResults): boolean {
  const n = x.runs.length;
  const need =
    x.case.must === "fail" ? Math.ceil(0.8 * n) : Math.ceil(0.95 * n);
  return metCount(x) >= need;
}

const EFFECTS: Array<[string, string, string]> = [
  ["latency_shift_p50", "p50 shift", "ms"],
  ["latency_shift_p95", "p95 shift", "ms"],
  ["latency_shift_p99", "p99 shift", "ms"],
  ["dark_error_excess", "dark error excess", "%"],
  ["pair_mismatches", "pair mismatches", "%"],
];

/** A number as the table shows it: "0.0", never "-0.0". */
const fmt = (x: number, unit: string) =>
  (unit === "%" ? x.toFixed(2) : x.toFixed(1)).replace(/^-(0\.0+)$/, "$1");

/** Median of a check's effect (value) over the runs that have one, "–" when none has. */
function medianEffect(runs: RunResult[], id: string, unit: string): string {
  const xs = runs
    .map((r) => r.checks.find((c) => c.id === id)?.value)
    .filter((v): v is number => typeof v === "number");
  if (!xs.length) return "–";
  return fmt(median(xs), unit);
}

/** "dark_error_excess 5, max_dispatch_failures 5": how many runs failed each check. */
function failedChecks(runs: RunResult[]): string {
  const n = new Map<string, number>();
  for (const r of runs)
    for (const id of r.failed) n.set(id, (n.get(id) ?? 0) + 1);
  return [...n].map(([id, k]) => `\`${id}\` ${k}`).join(", ") || "none";
}

function exitCodes(runs: RunResult[]): string {
  const n = new Map<string, number>();
  for (const r of runs) {
    const k = String(r.exitCode);
    n.set(k, (n.get(k) ?? 0) + 1);
  }
  return [...n]
    .sort()
    .map(([k, v]) => `${v} × ${k}`)
    .join(", ");
}

function sum(runs: RunResult[], f: (r: RunResult) => number): number {
  return runs.reduce((s, r) => s + f(r), 0);
}

/** What was injected on the dark side and what the report counted, over the runs. */
function injectedCounted(x: CaseResults): string {
  const runs = x.runs;
  const d = x.case.dark ?? {};
  if (d.errorFraction || d.grpcErrorFraction)
    return `${sum(runs, (r) => r.upstreams.dark?.errors ?? 0)} errors / ${sum(runs, (r) => (r.counts.dark?.["5xx"] ?? 0) + (r.counts.dark?.grpc_error ?? 0))}`;
  if (d.changedFraction)
    return `${sum(runs, (r) => r.upstreams.dark?.changed ?? 0)} changed / ${sum(runs, (r) => r.counts.pair_compared?.body_mismatch ?? 0)}`;
  if (d.tail)
    return `${sum(runs, (r) => r.upstreams.dark?.tail ?? 0)} slow answers`;
  return "";
}

interface Rendered {
  date: string;
  command: string;
  seed: number;
  requests: number;
  minutes: number;
  loadBefore: number[];
  loadAfter: number[];
  envoy: string;
  wasmBytes: number;
  head: string;
  results: CaseResults[];
}

/** The section's markdown. */
export function renderSection(x: Rendered): string {
  const rows = x.results.map((cr) => {
    const c = cr.case;
    const n = cr.runs.length;
    const must = c.must === "pass" ? "pass" : `fail (${c.names})`;
    const met = `${metCount(cr)} of ${n} ${c.must === "pass" ? "passed" : "caught"}${caseMet(cr) ? "" : " — **missed**"}`;
    const darkLatency = cr.runs.map((r) => r.darkLatencySamples ?? 0);
    return [
      c.title,
      must,
      String(n),
      met,
      exitCodes(cr.runs),
      failedChecks(cr.runs),
      ...EFFECTS.map(([id, , unit]) => medianEffect(cr.runs, id, unit)),
      c.noDarkLatency
        ? `${Math.max(...darkLatency)}`
        : String(median(darkLatency)),
      injectedCounted(cr),
    ];
  });
  const header = [
    "dark version",
    "must",
    "runs",
    "met",
    "exit codes",
    "checks failed (runs)",
    ...EFFECTS.map(([, name, unit]) => `${name} ${unit}`),
    "dark latency samples",
    "dark injected / counted",
  ];
  const table = [
    `| ${header.join(" | ")} |`,
    `| ${header.map((_, i) => (i >= 2 && i !== 4 && i !== 5 ? "---:" : "---")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
  const missed = x.results.filter((r) => !caseMet(r));
  const live = x.results
    .flatMap((r) => r.runs)
    .map((r) => r.latency.live)
    .filter((l) => l && typeof l.p50 === "number");
  const liveP50 = live.length ? median(live.map((l) => l.p50)) : NaN;
  const liveP95 = live.length ? median(live.map((l) => l.p95)) : NaN;
  const traffic = median(
    x.results.flatMap((r) => r.runs).map((r) => r.seconds),
  );
  const details = x.results
    .flatMap((cr) =>
      cr.runs.map(
        (r, i) =>
          `| ${cr.case.id} | ${i + 1} | ${r.seed} | ${r.load.toFixed(1)} | ${r.exitCode} | ${r.failed.join(", ") || "–"} | ${r.notEnough.join(", ") || "–"} | ${EFFECTS.map(
            ([id, , unit]) => {
              const v = r.checks.find((k) => k.id === id)?.value;
              return typeof v === "number" ? fmt(v, unit) : "–";
            },
          ).join(" | ")} | ${r.met ? "yes" : `no: ${r.why}`} |`,
      ),
    )
    .join("\n");
  return `## The verdict in the real Envoy (\`--verdict\`)

Written by \`${x.command}\` on ${x.date} (bench/verdict-bench.ts; this section only, regenerated by that mode). ${x.minutes.toFixed(1)} minutes. The same requests and injected choices again: \`npm run bench -- --verdict --seed ${x.seed}\`${x.command.includes("--cases") || x.command.includes("--runs") || x.command.includes("--requests") ? " with the options above" : ""}.

- Machine: ${cpus().length} × ${cpuModel()}, Linux ${release()}, Node ${process.version}; load average before / after: ${x.loadBefore.join(" ")} / ${x.loadAfter.join(" ")} (other work shared the 2 cores).
- Envoy ${x.envoy}; release \`build/mirror.wasm\` of ${x.wasmBytes} bytes; tree at commit ${x.head} (${sourceOf("assembly")}; the report's ${sourceOf("scripts/report")}).
- Objectives: the defaults, \`${JSON.stringify(DEFAULT_OBJECTIVES)}\`.
- Each run: a fresh upstream process and a fresh Envoy (\`--concurrency 1\`, the shipped config's stats tags, buckets and 1 s flush), ${x.requests} GETs (gRPC: POST calls over h2c) with an \`x-request-id\` derived from the run's seed, ${CONCURRENCY} at a time (median ${traffic.toFixed(1)} s of traffic per run), mirrored at 100 % (keyed on \`x-request-id\`); once no copy is in flight and the counters are still, the real \`npm run report -- --admin http://127.0.0.1:PORT --json\`: its exit code and the checks it names. Seeds: run r (from 0) of the table's k-th case (from 0) uses ${x.seed} + 1000·k + r.
- The services (bench/verdict-service.ts, in a process of their own): a request's latency is its work — lognormal, median ${WORK_MEDIAN_MS} ms and p95 ${WORK_P95_MS} ms, derived from a hash of its id and so the same on live, dark and baseline, as a copy of a service does the same work for the same request — plus a jitter uniform in [0, ${JITTER_MS}) ms drawn independently on each side. Measured through Envoy on this machine, live's p50 / p95 (median over runs): ${liveP50.toFixed(1)} / ${liveP95.toFixed(1)} ms (the machine's load adds to the model). Bodies are JSON: the request's own fields, and either \`served_at\` and \`served_by\` (different on every instance; \`compare.ignore\` lists them) or, in the baseline rows, a random \`id\` and no ignore list. Regressions are injected on the dark side only; the 500s of the healthy row on each side independently (each side's choice is its own hash).
- Met: a regression is caught when the report exits 1 naming a check of the kind the table asks for (any other check it also fails is listed); a healthy version passes when it exits 0; the dead-host rows must also report no dark latency (the largest count over the runs is shown). The bar: caught in ≥ 4 of 5, passed in ≥ 19 of 20.
- Effects: each check's effect as the report's JSON gives it (its \`value\`), the median over the runs that have one; "dark injected / counted" sums over the runs what the dark service injected and what the report counted.

${table}

${missed.length ? `**Not met:** ${missed.map((r) => `${r.case.title} (${metCount(r)} of ${r.runs.length})`).join("; ")}.` : "Every row met its must."}

<details><summary>Every run</summary>

"load": the machine's 1-minute load average when the run's traffic ended (2 cores).

| case | run | seed | load | exit | failed | not enough data | ${EFFECTS.map(([, name, unit]) => `${name} ${unit}`).join(" | ")} | met |
| --- | ---: | ---: | ---: | ---: | --- | --- | ${EFFECTS.map(() => "---:").join(" | ")} | --- |
${details}

</details>
`;
}
