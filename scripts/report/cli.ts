// `npm run report`: reads the mirror's numbers from Envoy's admin API (one Envoy or several,
// added up) or from Prometheus (every sidecar, over a window), judges each target against the
// dark version's objectives and prints the report as text or JSON; the exit code gates a
// promotion pipeline (USAGE). `runReport` does the same for other scripts (the demo).
import { parseArgs } from "node:util";
import { userPath } from "../../tools/paths.ts";
import { adminUrl, DEFAULT_ADMIN, readAdmins } from "./admin.ts";
import { EXIT, ReportError } from "./exit.ts";
import { errorJson, reportJson } from "./json.ts";
import type { Snapshot, TargetStats } from "./model.ts";
import {
  type Objectives,
  objectivesHelp,
  parseObjectives,
  readObjectivesFile,
} from "./objectives.ts";
import {
  DEFAULT_WINDOW,
  parseSelector,
  parseTime,
  parseWindow,
  prometheusUrl,
  readPrometheus,
  windowSeconds,
} from "./prometheus.ts";
import { reportText } from "./text.ts";
import { exitCodeOf, judgeTarget, type Verdict } from "./verdict.ts";
import { isMain } from "../../tools/command.ts";

/** What `--help` prints. */
export const USAGE = `usage: npm run report -- [--admin URL]... [--target T] [--objectives FILE] [--json | --watch]
       npm run report -- --prometheus URL [--selector '{LABEL="VALUE",...}'] [--window ${DEFAULT_WINDOW}]
                         [--at TIME] [--target T] [--objectives FILE] [--json | --watch]

Prints, for each mirror target, the live and dark sides of the mirrored requests side by side,
then a verdict against the dark version's objectives, with an exit code to gate a promotion.

Where the numbers come from:
  --admin URL          an Envoy's admin address [${DEFAULT_ADMIN}]: its stats since it started;
                       give --admin several times to add several Envoys up
  --prometheus URL     Prometheus' address: every sidecar (instance) reporting a target, summed,
                       over a window; the PromQL is the gates' (README)
  --selector MATCHERS  label matchers added to every Prometheus query, e.g. '{namespace="shop"}'
  --window DURATION    the window a Prometheus report covers [${DEFAULT_WINDOW}]
  --at TIME            the end of that window: RFC 3339 or Unix seconds [now]
  --settle SECONDS     with --admin: wait up to this long for Envoy's latency histograms to catch
                       up with its counters (merged at each stats flush) [6]; 0 reports at once

What it judges and prints:
  --target T           only this target: its cluster name (the mirror_target label)
  --objectives FILE    a JSON object overriding any of the objectives below
  --json               one JSON document: the verdict, each check with value, limit and samples
                       (README); a report that cannot be made prints {"error", "exit_code"}
  --watch              print the report again every --interval seconds, until Ctrl-C
  --interval SECONDS   [5]
  -h, --help

Objectives, with their defaults. The relative checks judge dark against live on the same
requests (the pairs): each fails when the data show the dark side beyond its tolerance at
fail_confidence, passes when they show it within at pass_confidence, and is "not enough data"
otherwise (with the pairs that would decide it). The absolute limits are off by default: set one
for an SLO gate; a value passes when it is at most its limit, judged on at least min_samples
samples. 0 allows none; null turns a check off (docs/report.md):
${objectivesHelp()}
Every target must also get copies: one that got none while at least min_samples requests were
turned away (skipped for another reason than sampling or match, or refused by Envoy) fails.

Exit codes:
  0  every check passes on every target
  1  a check fails, named in the result line: a limit exceeded, copies Envoy refused to send
     (unknown cluster, no healthy host), or no copy while requests were turned away
  2  not enough data: a relative check cannot tell yet (too few pairs, or a biased sample), or
     an absolute statistic has fewer than min_samples samples, and nothing fails
  3  no report: the source is unreachable (or on a port Node's fetch refuses), answers an
     error, or has no mirror metrics (or none of --target)
  4  usage: a bad argument or objectives file
`;

/** What `runReport` needs; everything has a default. */
export interface ReportOptions {
  /** Envoy admins (URL, host:port or port), added up [http://127.0.0.1:9901] */
  admin?: string | string[];
  /** Prometheus' address, instead of admins */
  prometheus?: string;
  /** label matchers added to every Prometheus query */
  selector?: string;
  /** the Prometheus window [10m] */
  window?: string;
  /** the end of the Prometheus window [now] */
  at?: Date;
  /** overrides of DEFAULT_OBJECTIVES (an objectives file's JSON) */
  objectives?: Partial<Objectives>;
  /** only this target (cluster name) */
  target?: string;
  /** with admins: how long to wait for the histograms to catch up with the counters [6000] */
  settleMs?: number;
}

/** A report, or (code 3, 4) the message saying why there is none. */
export interface ReportResult {
  code: number;
  /** the report as text, or the error message */
  text: string;
  /** the report as --json prints it, or {error, exit_code} */
  json: object;
  snapshot?: Snapshot;
  targets: TargetStats[];
  verdicts: Verdict[];
}

/** Reads the source and judges each target. Never throws for a report it cannot make: see `code`. */
export async function runReport(o: ReportOptions = {}): Promise<ReportResult> {
  try {
    const objectives = parseObjectives(o.objectives ?? {});
    const snapshot = o.prometheus
      ? await readPrometheus({
          url: o.prometheus,
          selector: o.selector,
          window: o.window,
          time: o.at,
          target: o.target,
        })
      : await readAdmins({
          admins: [o.admin ?? DEFAULT_ADMIN].flat(),
          target: o.target,
          settleMs: o.settleMs,
        });
    const window =
      snapshot.source.kind === "prometheus"
        ? windowSeconds(snapshot.source.window)
        : undefined;
    const verdicts = snapshot.targets.map((t) =>
      judgeTarget(t, objectives, window),
    );
    return {
      code: exitCodeOf(verdicts),
      text: reportText(snapshot, objectives, verdicts),
      json: reportJson(snapshot, objectives, verdicts),
      snapshot,
      targets: snapshot.targets,
      verdicts,
    };
  } catch (err) {
    if (!(err instanceof ReportError)) throw err;
    return {
      code: err.code,
      text: `report: ${err.message}\n`,
      json: errorJson(err.message, err.code),
      targets: [],
      verdicts: [],
    };
  }
}

function seconds(flag: string, text: string | undefined, fallback: number) {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v < 0)
    throw new ReportError(
      `--${flag}: must be a number of seconds, got "${text}"`,
      EXIT.usage,
    );
  return v;
}

const OPTIONS = {
  admin: { type: "string", multiple: true },
  prometheus: { type: "string" },
  selector: { type: "string" },
  window: { type: "string" },
  at: { type: "string" },
  objectives: { type: "string" },
  target: { type: "string" },
  json: { type: "boolean" },
  watch: { type: "boolean" },
  interval: { type: "string" },
  settle: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * `--settle -1` as `--settle=-1`: parseArgs takes a value that starts with "-" for an option (and
 * answers in three lines); a number after a flag that takes a value is that value, judged below.
 */
function numbersAsValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const option = (OPTIONS as Record<string, { type: string }>)[
      argv[i].replace(/^--/, "")
    ];
    if (
      argv[i].startsWith("--") &&
      option?.type === "string" &&
      /^-\d/.test(argv[i + 1] ?? "")
    )
      out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

/** The options of a command line, checked; `help` when it asks for the usage. */
export function parseCommandLine(argv: string[]):
  | { help: true }
  | {
      help: false;
      options: ReportOptions;
      json: boolean;
      watch: boolean;
      intervalS: number;
    } {
  const args = numbersAsValues(argv);
  let values;
  try {
    ({ values } = parseArgs({ args, options: OPTIONS }));
  } catch (e) {
    // One line: Node's message goes on to explain how to pass a value that starts with "-".
    const message = (e as Error).message
      .split("\n")[0]
      .replace(/\. To specify .*$/, "");
    throw new ReportError(message, EXIT.usage);
  }
  if (values.help) return { help: true };
  const only = (flag: string, source: string) => {
    throw new ReportError(`--${flag} goes with ${source}`, EXIT.usage);
  };
  if (values.prometheus !== undefined) {
    if (values.admin)
      throw new ReportError(
        "--admin and --prometheus: choose one source",
        EXIT.usage,
      );
    if (values.settle !== undefined) only("settle", "--admin");
  } else {
    for (const f of ["selector", "window", "at"] as const)
      if (values[f] !== undefined) only(f, "--prometheus");
  }
  if (values.json && values.watch)
    throw new ReportError("--json and --watch: choose one", EXIT.usage);
  const options: ReportOptions = {
    objectives:
      values.objectives === undefined
        ? undefined
        : readObjectivesFile(userPath(values.objectives)),
    target: values.target,
  };
  if (values.prometheus !== undefined) {
    options.prometheus = prometheusUrl(values.prometheus);
    if (values.selector !== undefined) {
      parseSelector(values.selector);
      options.selector = values.selector;
    }
    if (values.window !== undefined)
      options.window = parseWindow(values.window);
    if (values.at !== undefined) options.at = parseTime(values.at);
  } else {
    options.admin = (values.admin ?? [DEFAULT_ADMIN]).map(adminUrl);
    options.settleMs = 1000 * seconds("settle", values.settle, 6);
  }
  const intervalS = seconds("interval", values.interval, 5);
  if (values.watch && intervalS <= 0)
    throw new ReportError("--interval: must be above 0", EXIT.usage);
  return {
    help: false,
    options,
    json: values.json ?? false,
    watch: values.watch ?? false,
    intervalS,
  };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** The CLI: prints the report (or, with --watch, reprints it) and resolves with the exit code. */
export async function main(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
  /** ends --watch like Ctrl-C does */
  stopWatching?: AbortSignal,
): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (e) {
    if (!(e instanceof ReportError)) throw e;
    if (argv.includes("--json"))
      out.write(JSON.stringify(errorJson(e.message, e.code), null, 2) + "\n");
    err.write(`report: ${e.message} (npm run report -- --help)\n`);
    return e.code;
  }
  if (parsed.help) {
    out.write(USAGE);
    return 0;
  }
  const { options, json, watch, intervalS } = parsed;
  const print = (r: ReportResult) => {
    if (json) out.write(JSON.stringify(r.json, null, 2) + "\n");
    if (r.code >= EXIT.noReport) err.write(r.text);
    else if (!json) out.write(r.text);
  };
  if (!watch) {
    const r = await runReport(options);
    print(r);
    return r.code;
  }
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.once("SIGINT", onSigint);
  stopWatching?.addEventListener("abort", onSigint);
  let code: number = EXIT.notEnoughData;
  try {
    while (!stop.signal.aborted) {
      const r = await runReport(options);
      if ((out as { isTTY?: boolean }).isTTY) out.write("\x1b[2J\x1b[H");
      print(r);
      out.write(
        `(every ${intervalS} s; Ctrl-C stops, with this report's exit code)\n`,
      );
      code = r.code;
      await sleep(intervalS * 1000, stop.signal);
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
  return code;
}

if (isMain(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
