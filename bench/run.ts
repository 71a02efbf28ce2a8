// `npm run bench`: what mirroring costs the live path, against Envoy's native mirroring.
//
// One run, one Envoy binary, one set of loopback upstreams; configurations interleaved and
// repeated: (a) plain Envoy, (b) native request_mirror_policies at 100%, (c) the filter at 0%,
// (d) at 100%, (e) at 10%, and (z) an empty Wasm filter (the floor of any proxy-wasm filter).
// Each is measured for closed-loop throughput (wrk), latency at a fixed rate below the knee
// (oload, open loop), Envoy CPU seconds per 10k requests and RSS; medians over repetitions,
// ratios to (a) and (b). Then the micro benchmark (host emulator) and, when
// perf exists, where the measured Envoy's CPU goes. Rewrites bench/RESULTS.md, bench/latency.svg
// and bench/results.json.
//
//   npm run bench                       the full run
//   npm run bench -- --quick            one short repetition, to check the setup
//   npm run bench -- --soak             one million mirrored requests: RSS and Wasm memory
//   npm run bench -- --micro            the micro benchmark alone
//   npm run bench -- --ab FILE[,FILE]   release build vs candidate builds, CPU per request
//   npm run bench -- --render           RESULTS.md again from results.json
//   npm run bench -- --verdict          the report's verdict on the dark versions (bench/verdict*.ts)
//   options: --reps N --seconds S (per phase) --rate R (req/s of the latency phase)
//            --connections C (wrk) --wasm FILE (measure this build instead of the release)
//            --no-micro --no-profile --no-calls --soak-requests N
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as prettier from "prettier";
import { ensureBuild } from "../tools/build.ts";
import { ensureEnvoy } from "../tools/provision/envoy.ts";
import { REPO_ROOT } from "../tools/paths.ts";
import type { EnvoyProcess } from "../tools/envoy/process.ts";
import { ensureTool } from "../tools/provision/debian.ts";
import { envoyStatName } from "../scripts/metrics.ts";
import {
  bootstrapFor,
  bootstrapWithWasm,
  CONFIGS,
  type ConfigId,
  DARK,
  cpuSeconds,
  benchEnvoy,
  rssBytes,
  upstreamBootstrap,
  WASM,
  wasmResidentBytes,
} from "./envoy.ts";
import {
  buildNamedWasm,
  type MicroResult,
  profileMicro,
  runMicro,
} from "./micro.ts";
import { type NullWork, nullFilterWasm } from "./nullwasm.ts";
import {
  BASELINE_REVS,
  buildRevision,
  hostCallsPerRequest,
} from "./hostcalls.ts";
import {
  FULL_RUN_TIME,
  hostCallText,
  mirrorFloor,
  renderResults,
} from "./report.ts";
import type {
  AbResults,
  ConfigSummary,
  HostCallCosts,
  LatencyPhase,
  MainResults,
  SoakResults,
  SoakSample,
  ThroughputPhase,
} from "./results.ts";
import { curvePercentiles } from "./svg.ts";
import { CASES } from "./verdict.ts";
import { verdictBench } from "./verdict-bench.ts";
import {
  benchCommand,
  busyShare,
  stealShare,
  buildOload,
  commandVersion,
  cpuModel,
  cpuTimes,
  loadAverage,
  median,
  optionalTool,
  parseWrk,
  percentile,
  perfByDso,
  pinned,
  pinning,
  type Pinning,
  readLatencies,
  run,
} from "./machine.ts";

const BENCH = join(REPO_ROOT, "bench");
export const RESULTS_JSON = join(BENCH, "results.json");

const USAGE = `usage: npm run bench -- [--quick | --soak | --micro | --calls | --ab FILE[,FILE] | --render | --verdict] [options]

Measures what mirroring costs the live path against Envoy's native mirroring, and rewrites
bench/RESULTS.md, bench/latency.svg and bench/results.json (not part of npm test).

  (no mode)             the full run (${FULL_RUN_TIME})
  --quick               one short repetition, to check the setup
  --soak                one million mirrored requests: RSS and Wasm memory
  --micro               the micro benchmark alone (host emulator)
  --calls               what host calls cost in this Envoy, and the floor under a mirrored
                        request (a bare proxy_http_call beside native mirroring), alone
  --ab FILE[,FILE]      the release build vs candidate builds, CPU per request; replaces the
                        "Builds compared" of RESULTS.md (--ab-labels A,B, --ab-percentages 0,100,10)
  --render              RESULTS.md again from results.json
  --verdict             the report's verdict in the real Envoy on each dark version of the table
                        (regressions 5 runs, healthy versions 20; 2,000 requests a run; about 16
                        minutes); rewrites its own section of RESULTS.md. --seed N (the first
                        run's), --runs N (per case), --requests N, --cases ID[,ID] of
                        ${CASES.map((c) => c.id).join(", ")}
options: --reps N, --seconds S (per phase), --rate R (req/s of the latency phase),
         --connections C (wrk), --wasm FILE (measure this build instead of the release),
         --no-micro, --no-profile, --no-calls, --soak-requests N
`;

// The arguments first: --help and a mistyped option are answered before anything is built or run.
{
  const takesValue = new Set([
    "reps",
    "seconds",
    "rate",
    "connections",
    "wasm",
    "soak-requests",
    "ab",
    "ab-labels",
    "ab-percentages",
    "seed",
    "cases",
    "runs",
    "requests",
  ]);
  const flags = new Set([
    "quick",
    "soak",
    "micro",
    "calls",
    "render",
    "no-micro",
    "no-profile",
    "no-calls",
    "profile-only",
    "verdict",
  ]);
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  for (let i = 0; i < args.length; i++) {
    const name = args[i].replace(/^--/, "");
    if (takesValue.has(name) && args[i + 1] !== undefined) i++;
    else if (!flags.has(name)) {
      process.stderr.write(
        `bench: unknown or incomplete option '${args[i]}' (npm run bench -- --help)\n`,
      );
      process.exit(2);
    }
  }
  if (!args.includes("--render")) ensureBuild();
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const QUICK = flag("quick");
// Many short repetitions rather than a few long ones: on a shared or virtual machine, bursts of
// other work then fall on every configuration alike, and medians have more to work with.
const REPS = Number(arg("reps") ?? (QUICK ? 1 : 12));
const SECONDS = Number(arg("seconds") ?? 3);
/** Seconds of each open-loop phase sent but not recorded (connections and pools warm). */
const OPEN_WARMUP = 0.5;
const CONNECTIONS = Number(arg("connections") ?? 64);
/** Connections of the open-loop generator (enough that none waits at the fixed rate). */
const OPEN_CONNECTIONS = 16;
const SOAK_REQUESTS = Number(arg("soak-requests") ?? 1_000_000);
const SOAK_WARMUP = Math.round(SOAK_REQUESTS / 10);

const log = (s: string) => process.stderr.write(s + "\n");

// The host-call run's rows, by label.
const PLAIN = "plain Envoy";
const NATIVE = "native mirror 100%";
const EMPTY = "empty filter";
const READS = "+ 4 × proxy_get_header_map_value";
const PAIRS = "+ 1 × proxy_get_header_map_pairs";
const BARE = `${PAIRS} + 1 × proxy_http_call (bare mirror)`;
/** The bare mirror making the filter's host calls: what is left of the filter is its own code. */
const VERDICT =
  "+ the filter's other host calls per mirror (3 timestamps, 2 answer header maps, 3 histogram records)";
/** The same configuration in a second Envoy: how far two identical ones differ in this run. */
const AGAIN = "filter 0% again (A/A: a second, identical Envoy)";
const FILTER_0 = "filter 0%";
const FILTER_100 = "filter 100%";
type CostVariant = NullWork | "plain" | "native" | { filter: number };

/**
 * Empty filter variants (no host call, 4 single-header reads, one whole-map read, the map read
 * and sent as a bare mirror) beside plain Envoy, native mirroring and the filter at 0% and 100%.
 */
async function hostCallCosts(
  rig: Rig,
  reps: number,
  seconds: number,
): Promise<HostCallCosts> {
  const variants: Array<[string, CostVariant]> = [
    [PLAIN, "plain"],
    [NATIVE, "native"],
    [EMPTY, {}],
    [READS, { headerReads: ["x-shadow", ":path", ":method", "x-request-id"] }],
    [PAIRS, { pairs: true }],
    [BARE, { dispatchTo: DARK }],
    [VERDICT, { dispatchTo: DARK, verdictCalls: true }],
    [FILTER_0, { filter: 0 }],
    [AGAIN, { filter: 0 }],
    [FILTER_100, { filter: 100 }],
  ];
  const dir = mkdtempSync(join(tmpdir(), "mirror-bench-calls-"));
  const boots = variants.map(([, v], i) => {
    if (v === "plain") return bootstrapFor("a", rig.live, rig.dark);
    if (v === "native") return bootstrapFor("b", rig.live, rig.dark);
    if ("filter" in v)
      return bootstrapWithWasm(WASM, rig.live, rig.dark, v.filter);
    const file = join(dir, `v${i}.wasm`);
    writeFileSync(file, nullFilterWasm(v));
    return bootstrapWithWasm(file, rig.live, rig.dark);
  });
  try {
    const m = await cpuPerRequest(rig, boots, reps, seconds);
    const col = (label: string) => m[variants.findIndex(([l]) => l === label)];
    const at = (label: string) => col(label).us;
    return {
      reps,
      seconds,
      rows: variants.map(([label], i) => ({
        label,
        usPerRq: m[i].us,
        rps: m[i].rps,
        darkPerLive: m[i].darkPerLive,
      })),
      perHeaderRead: (at(READS) - at(EMPTY)) / 4,
      perPairsRead: at(PAIRS) - at(EMPTY),
      bareOverTargetReps: m[0].usReps.map((_, r) => {
        const rep = (label: string) => col(label).usReps[r];
        return rep(BARE) - rep(PAIRS) - 1.2 * (rep(NATIVE) - rep(PLAIN));
      }),
      sameConfigUs: at(AGAIN) - at(FILTER_0),
      increments: {
        native: at(NATIVE) - at(PLAIN),
        bare: at(BARE) - at(PAIRS),
        verdict: at(VERDICT) - at(PAIRS),
        filter: at(FILTER_100) - at(FILTER_0),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Envoy CPU µs per request and throughput under wrk of each bootstrap (one Envoy each, on the
 * measured core), interleaved and rotated over `reps`; medians, with each repetition's values.
 */
async function cpuPerRequest(
  rig: Rig,
  boots: object[],
  reps: number,
  seconds: number,
): Promise<
  Array<{ us: number; rps: number; usReps: number[]; darkPerLive: number }>
> {
  const envoys: EnvoyProcess[] = [];
  const ports: number[] = [];
  const us: number[][] = boots.map(() => []);
  const rps: number[][] = boots.map(() => []);
  const darkPerLive: number[][] = boots.map(() => []);
  try {
    for (const [i, boot] of boots.entries()) {
      const e = await benchEnvoy(`v${i}`, rig.bin, boot, rig.pin.envoy);
      envoys.push(e);
      ports.push(await e.portOf("ingress"));
    }
    for (const port of ports)
      await run(...pinned(rig.pin.load, "wrk", wrkArgs(port, 2)));
    for (let r = 0; r < reps; r++) {
      for (let k = 0; k < envoys.length; k++) {
        const i = (k + r) % envoys.length;
        const e = envoys[i];
        const a = {
          cpu: cpuSeconds(e.pid),
          rq: await ingressCount(e),
          up: await upstreamCounts(rig.up),
        };
        const w = parseWrk(
          await run(...pinned(rig.pin.load, "wrk", wrkArgs(ports[i], seconds))),
        );
        const b = {
          cpu: cpuSeconds(e.pid),
          rq: await ingressCount(e),
          up: await upstreamCounts(rig.up),
        };
        us[i].push(((b.cpu - a.cpu) / Math.max(1, b.rq - a.rq)) * 1e6);
        rps[i].push(w.rps);
        darkPerLive[i].push(
          (b.up.dark - a.up.dark) / Math.max(1, b.up.live - a.up.live),
        );
      }
    }
  } finally {
    for (const e of envoys) await e.stop();
  }
  return boots.map((_, i) => ({
    us: median(us[i]),
    rps: median(rps[i]),
    usReps: us[i],
    darkPerLive: median(darkPerLive[i]),
  }));
}

/**
 * `--ab FILE`: the release build against a candidate build of the filter, at 0%, 100% and 10%,
 * side by side in one run (CPU per request and throughput under wrk). Printed, and kept in
 * results.json as the "Builds compared" section of RESULTS.md, replacing the previous --ab run's.
 */
async function ab(): Promise<void> {
  const files = [
    WASM,
    ...arg("ab")!
      .split(",")
      .map((f) => resolve(f)),
  ];
  for (const f of files)
    if (!existsSync(f)) throw new Error(`--ab: ${f} not found`);
  ensureTool("wrk");
  const { bin } = await ensureEnvoy();
  const rig = await startRig(bin, []);
  try {
    const rows: Array<{ file: number; pct: number; boot: object }> = [];
    const percentages = (arg("ab-percentages") ?? "0,100,10")
      .split(",")
      .map(Number);
    for (const pct of percentages)
      for (const [file, f] of files.entries())
        rows.push({
          file,
          pct,
          boot: bootstrapWithWasm(f, rig.live, rig.dark, pct),
        });
    const m = await cpuPerRequest(
      rig,
      rows.map((x) => x.boot),
      REPS,
      SECONDS,
    );
    const labels = (arg("ab-labels") ?? "").split(",");
    const name = (i: number) =>
      labels[i] || (i === 0 ? "baseline" : `candidate ${i}`);
    for (const [i, f] of files.entries())
      console.log(`${name(i)}: ${f} (${readFileSync(f).length} bytes)`);
    console.log(
      `${REPS} interleaved repetitions of ${SECONDS} s under wrk -c${CONNECTIONS}; load average ${loadAverage().join(" ")}`,
    );
    const result: AbResults = {
      date: new Date().toISOString(),
      command: benchCommand(),
      reps: REPS,
      seconds: SECONDS,
      loadAverage: loadAverage(),
      builds: files.map((f, i) => ({
        label: name(i),
        bytes: readFileSync(f).length,
      })),
      rows: rows.map((row, i) => ({
        build: row.file,
        percentage: row.pct,
        us: m[i].us,
        usReps: m[i].usReps,
        rps: m[i].rps,
      })),
    };
    for (const row of result.rows) {
      const base = result.rows.find(
        (x) => x.percentage === row.percentage && x.build === 0,
      )!;
      console.log(
        `${name(row.build).padEnd(24)} ${String(row.percentage).padStart(3)}% ` +
          `${row.us.toFixed(1).padStart(7)} µs CPU/request (reps ${row.usReps.map((x) => x.toFixed(0)).join(" ")})  ` +
          `${row.rps.toFixed(0).padStart(6)} req/s` +
          (row.build
            ? `   ${(row.us - base.us).toFixed(1)} µs, ×${(row.us / base.us).toFixed(3)} CPU vs ${name(0)}`
            : ""),
      );
    }
    const previous = readPrevious();
    await writeResultsJson({ ...previous, ab: result });
    if (previous.main) renderResults(previous.main, previous.soak, result);
  } finally {
    await stopRig(rig);
  }
}

interface Rig {
  bin: string;
  live: number;
  dark: number;
  up: EnvoyProcess;
  envoys: Map<ConfigId, EnvoyProcess>;
  ports: Map<ConfigId, number>;
  oload: string;
  pin: Pinning;
}

async function upstreamCounts(
  up: EnvoyProcess,
): Promise<{ live: number; dark: number }> {
  const s = await up.stats("downstream_rq_total");
  return {
    live: s.get("http.live.downstream_rq_total") ?? 0,
    dark: s.get("http.dark.downstream_rq_total") ?? 0,
  };
}

async function ingressCount(e: EnvoyProcess): Promise<number> {
  return (
    (await e.stats("ingress.downstream_rq_total")).get(
      "http.ingress.downstream_rq_total",
    ) ?? 0
  );
}

/** Counters around a phase: the measured Envoy's CPU and requests, the upstreams' requests. */
async function snapshot(rig: Rig, e: EnvoyProcess) {
  return {
    cpu: cpuSeconds(e.pid),
    rq: await ingressCount(e),
    up: await upstreamCounts(rig.up),
    cores: cpuTimes(),
    at: performance.now(),
  };
}
type Snap = Awaited<ReturnType<typeof snapshot>>;

function deltas(rig: Rig, a: Snap, b: Snap) {
  const rq = b.rq - a.rq;
  const cpu = b.cpu - a.cpu;
  const live = b.up.live - a.up.live;
  const dark = b.up.dark - a.up.dark;
  const busy = busyShare(a.cores, b.cores);
  const steal = stealShare(a.cores, b.cores);
  const secs = (b.at - a.at) / 1000;
  const envoyCore = rig.pin.envoy;
  return {
    cpuPer10k: rq > 0 ? (cpu / rq) * 10_000 : NaN,
    darkPerLive: live > 0 ? dark / live : NaN,
    loadCoreBusy: rig.pin.load !== undefined ? busy[rig.pin.load] : NaN,
    steal: Math.max(...steal),
    otherOnEnvoyCore:
      envoyCore !== undefined ? Math.max(0, busy[envoyCore] - cpu / secs) : NaN,
  };
}

function wrkArgs(
  port: number,
  seconds: number,
  connections = CONNECTIONS,
): string[] {
  return [
    "-t1",
    `-c${connections}`,
    `-d${seconds}s`,
    `http://127.0.0.1:${port}/`,
  ];
}

async function throughputPhase(
  rig: Rig,
  id: ConfigId,
): Promise<ThroughputPhase> {
  const e = rig.envoys.get(id)!;
  const a = await snapshot(rig, e);
  const out = await run(
    ...pinned(rig.pin.load, "wrk", wrkArgs(rig.ports.get(id)!, SECONDS)),
  );
  const b = await snapshot(rig, e);
  const w = parseWrk(out);
  const d = deltas(rig, a, b);
  return { rps: w.rps, errors: w.errors, ...d };
}

async function latencyPhase(
  rig: Rig,
  id: ConfigId,
  rate: number,
  keep: Float64Array[],
): Promise<LatencyPhase> {
  const e = rig.envoys.get(id)!;
  const dir = mkdtempSync(join(tmpdir(), "mirror-bench-lat-"));
  const file = join(dir, "lat.txt");
  const a = await snapshot(rig, e);
  const out = await run(
    ...pinned(rig.pin.load, rig.oload, [
      "-p",
      String(rig.ports.get(id)!),
      "-r",
      String(rate),
      "-d",
      String(SECONDS),
      "-w",
      String(OPEN_WARMUP),
      "-c",
      String(OPEN_CONNECTIONS),
      "-o",
      file,
    ]),
  );
  const b = await snapshot(rig, e);
  const o = JSON.parse(out.trim().split("\n").pop()!) as {
    errors: number;
    late: number;
  };
  const lat = readLatencies(file);
  rmSync(dir, { recursive: true, force: true });
  keep.push(lat);
  const d = deltas(rig, a, b);
  const wasm = wasmResidentBytes(e.pid);
  return {
    p50: percentile(lat, 0.5),
    p90: percentile(lat, 0.9),
    p99: percentile(lat, 0.99),
    p999: percentile(lat, 0.999),
    recorded: lat.length,
    errors: o.errors,
    late: o.late,
    cpuPer10k: d.cpuPer10k,
    darkPerLive: d.darkPerLive,
    rssBytes: rssBytes(e.pid),
    wasmBytes: wasm ?? null,
    otherOnEnvoyCore: d.otherOnEnvoyCore,
    steal: d.steal,
  };
}

async function startRig(bin: string, ids: readonly ConfigId[]): Promise<Rig> {
  const pin = pinning();
  const up = await benchEnvoy("upstreams", bin, upstreamBootstrap(), pin.load);
  const live = await up.portOf("live");
  const dark = await up.portOf("dark");
  const nullWasm = join(
    mkdtempSync(join(tmpdir(), "mirror-bench-null-")),
    "null.wasm",
  );
  writeFileSync(nullWasm, nullFilterWasm());
  const envoys = new Map<ConfigId, EnvoyProcess>();
  const ports = new Map<ConfigId, number>();
  for (const id of ids) {
    const e = await benchEnvoy(
      id,
      bin,
      bootstrapFor(id, live, dark, nullWasm),
      pin.envoy,
    );
    envoys.set(id, e);
    ports.set(id, await e.portOf("ingress"));
  }
  return { bin, live, dark, up, envoys, ports, oload: "", pin };
}

async function stopRig(rig: Rig): Promise<void> {
  for (const e of rig.envoys.values()) await e.stop();
  await rig.up.stop();
}

/** "commit abc1234" plus a note when assembly/ differs from it (or when --wasm is used). */
function sourceDescription(): string {
  if (process.argv.includes("--wasm")) return `--wasm ${WASM}`;
  const git = (args: string[]) =>
    spawnSync("git", args, {
      cwd: REPO_ROOT,
      encoding: "utf8",
    }).stdout?.trim() ?? "";
  const head = git(["rev-parse", "--short", "HEAD"]) || "unknown";
  const dirty = git(["status", "--porcelain", "assembly"]) !== "";
  return `commit ${head}${dirty ? " with uncommitted changes in assembly/" : ""}`;
}

function releaseWasmBytes(): number {
  if (!existsSync(WASM))
    throw new Error(`${WASM} is missing: run npm run build first`);
  return readFileSync(WASM).length;
}

async function main(): Promise<void> {
  const releaseBytes = releaseWasmBytes();
  const source = sourceDescription(); // before anything else: the tree may change during the run
  // the profile's names build, from the same sources as the release just built
  const named =
    flag("no-profile") || flag("no-micro") || process.argv.includes("--wasm")
      ? undefined
      : buildNamedWasm();
  ensureTool("wrk");
  const oload = buildOload();
  const { bin, version } = await ensureEnvoy();
  const envoyLine =
    commandVersion(bin, ["--version"]).replace(/^.*version:\s*/, "") || version;
  const loadBefore = loadAverage();
  log(
    `bench: Envoy ${envoyLine}; load average ${loadBefore.join(" ")}; ${REPS} repetition(s) of ${SECONDS} s phases`,
  );
  if (loadBefore[0] > 0.7)
    log(
      `bench: warning: load average ${loadBefore[0]} > 0.7: other work on this machine will add noise`,
    );

  const ids = CONFIGS.map((c) => c.id);
  const rig = await startRig(bin, ids);
  rig.oload = oload;
  try {
    // Warm-up (JIT tier-up, connection pools) doubling as calibration of the fixed rate.
    const warm = new Map<ConfigId, number>();
    for (const id of ids) {
      const w = parseWrk(
        await run(
          ...pinned(
            rig.pin.load,
            "wrk",
            wrkArgs(rig.ports.get(id)!, QUICK ? 2 : 3),
          ),
        ),
      );
      warm.set(id, w.rps);
      log(`  warm-up ${id}: ${w.rps.toFixed(0)} req/s`);
    }
    // Below the knee: a quarter of the slowest configuration's closed-loop throughput.
    const rate = Number(
      arg("rate") ??
        Math.max(
          100,
          Math.round((0.25 * Math.min(...warm.values())) / 100) * 100,
        ),
    );
    log(
      `bench: fixed rate for latency: ${rate} req/s (open loop, ${OPEN_CONNECTIONS} connections)`,
    );

    const tp = new Map<ConfigId, ThroughputPhase[]>(ids.map((id) => [id, []]));
    const lp = new Map<ConfigId, LatencyPhase[]>(ids.map((id) => [id, []]));
    const lats = new Map<ConfigId, Float64Array[]>(ids.map((id) => [id, []]));
    for (let r = 0; r < REPS; r++) {
      // Interleaved, and rotated so no configuration always runs first or after the same one.
      const order = ids.map((_, i) => ids[(i + r) % ids.length]);
      for (const id of order) {
        const t = await throughputPhase(rig, id);
        const l = await latencyPhase(rig, id, rate, lats.get(id)!);
        tp.get(id)!.push(t);
        lp.get(id)!.push(l);
        log(
          `  rep ${r + 1}/${REPS} ${id}: ${t.rps.toFixed(0)} req/s, p50/p90/p99 ${l.p50.toFixed(0)}/${l.p90.toFixed(0)}/${l.p99.toFixed(0)} µs, ` +
            `${l.cpuPer10k.toFixed(2)} CPU s/10k, dark/live ${t.darkPerLive.toFixed(3)}, RSS ${(l.rssBytes / 2 ** 20).toFixed(1)} MiB` +
            (t.errors + l.errors ? `, ERRORS ${t.errors}+${l.errors}` : ""),
        );
      }
    }

    // Profile of the measured Envoy under wrk, where perf is available.
    const perf = new Map<
      ConfigId,
      { dso: Record<string, number> | null; usPerRq: number }
    >();
    if (!flag("no-profile") && optionalTool("perf")) {
      for (const id of ["a", "b", "z", "c", "d"] as ConfigId[]) {
        const e = rig.envoys.get(id)!;
        const a = await snapshot(rig, e);
        const load = run(
          ...pinned(rig.pin.load, "wrk", wrkArgs(rig.ports.get(id)!, 6)),
        );
        await new Promise((r) => setTimeout(r, 500));
        const dso = await perfByDso(e.pid, 4);
        await load;
        const b = await snapshot(rig, e);
        perf.set(id, {
          dso,
          usPerRq: ((b.cpu - a.cpu) / Math.max(1, b.rq - a.rq)) * 1e6,
        });
      }
    }

    let hostCalls: HostCallCosts | undefined;
    if (!flag("no-calls")) {
      log("bench: host-call costs (empty filter variants) ...");
      hostCalls = await hostCallCosts(rig, QUICK ? 1 : 8, QUICK ? 2 : 3);
      for (const row of hostCalls.rows)
        log(
          `  ${row.label}: ${row.usPerRq.toFixed(1)} µs CPU/request, ${row.rps.toFixed(0)} req/s`,
        );
    }

    const configs: ConfigSummary[] = CONFIGS.map(({ id, label }) => {
      const t = tp.get(id)!;
      const l = lp.get(id)!;
      const pooled = Float64Array.from(
        lats.get(id)!.flatMap((x) => [...x]),
      ).sort();
      const wasm = l
        .map((x) => x.wasmBytes)
        .filter((x): x is number => x !== null);
      return {
        id,
        label,
        throughput: t,
        latency: l,
        median: {
          rps: median(t.map((x) => x.rps)),
          p50: median(l.map((x) => x.p50)),
          p90: median(l.map((x) => x.p90)),
          p99: median(l.map((x) => x.p99)),
          cpuPer10k: median(l.map((x) => x.cpuPer10k)),
          cpuPer10kSaturated: median(t.map((x) => x.cpuPer10k)),
          rssMiB: median(l.map((x) => x.rssBytes)) / 2 ** 20,
          wasmMiB: wasm.length ? median(wasm) / 2 ** 20 : null,
          darkPerLive: median(t.map((x) => x.darkPerLive)),
        },
        curve: curvePercentiles().map(
          (p) => [p, percentile(pooled, p)] as [number, number],
        ),
        perf: perf.get(id)?.dso,
        perfCpuUsPerRequest: perf.get(id)?.usPerRq,
      };
    });
    await stopRig(rig);

    let micro: MicroResult | undefined;
    let microProfile: MainResults["microProfile"];
    if (!flag("no-micro")) {
      log("bench: micro benchmark (host emulator, release build) ...");
      micro = await runMicro(QUICK ? 3 : 7, QUICK ? 10_000 : 20_000);
      if (named)
        microProfile = {
          decision: profileMicro("decision", named),
          mirrored: profileMicro("mirrored", named),
        };
    }

    log("bench: host calls per request (host emulator) ...");
    const hostCallsPer: MainResults["hostCallsPerRequest"] = [];
    for (const rev of BASELINE_REVS) {
      const b = buildRevision(rev);
      try {
        hostCallsPer.push({
          label: rev,
          calls: await hostCallsPerRequest(b.wasm),
        });
      } finally {
        b.cleanup();
      }
    }
    hostCallsPer.push({
      label: "measured build",
      calls: await hostCallsPerRequest(WASM),
    });

    const results: MainResults = {
      date: new Date().toISOString(),
      command: benchCommand(),
      machine: {
        nproc: cpus().length,
        cpu: cpuModel(),
        kernel: release(),
        node: process.version,
        pinning: rig.pin,
      },
      envoy: envoyLine,
      wrk: commandVersion("wrk", ["-v"]),
      reps: REPS,
      seconds: SECONDS,
      connections: CONNECTIONS,
      openConnections: OPEN_CONNECTIONS,
      rate,
      loadBefore,
      loadAfter: loadAverage(),
      releaseWasmBytes: releaseBytes,
      source,
      configs,
      hostCalls,
      hostCallsPerRequest: hostCallsPer,
      micro,
      microProfile,
    };
    const previous = readPrevious();
    await writeResultsJson({ ...previous, main: results });
    const text = renderResults(results, previous.soak, previous.ab);
    process.stdout.write("\n" + text.table + "\n");
    log(`bench: wrote bench/RESULTS.md, bench/latency.svg, bench/results.json`);
  } finally {
    await stopRig(rig).catch(() => undefined);
  }
}

/** Writes results.json as prettier would (npm test checks the formatting of the repository). */
async function writeResultsJson(x: {
  main?: MainResults;
  soak?: SoakResults;
  ab?: AbResults;
}): Promise<void> {
  const text = await prettier.format(JSON.stringify(x), { parser: "json" });
  writeFileSync(RESULTS_JSON, text);
}

function readPrevious(): {
  main?: MainResults;
  soak?: SoakResults;
  ab?: AbResults;
} {
  try {
    return JSON.parse(readFileSync(RESULTS_JSON, "utf8"));
  } catch {
    return {};
  }
}

async function envoyHeapBytes(e: EnvoyProcess): Promise<number | null> {
  try {
    const m = JSON.parse(await e.admin("/memory")) as { allocated?: string };
    return m.allocated !== undefined ? Number(m.allocated) : null;
  } catch {
    return null;
  }
}

/** One million mirrored requests through the filter at 100%, sampling memory as they go. */
async function soak(): Promise<void> {
  releaseWasmBytes();
  ensureTool("wrk");
  const { bin, version } = await ensureEnvoy();
  const envoyLine =
    commandVersion(bin, ["--version"]).replace(/^.*version:\s*/, "") || version;
  const loadBefore = loadAverage();
  const rig = await startRig(bin, ["d"]);
  const e = rig.envoys.get("d")!;
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  const sample = async (): Promise<SoakSample> => {
    const s = await e.stats("mirror_");
    const x: SoakSample = {
      t: (performance.now() - t0) / 1000,
      mirrored: s.get(envoyStatName("dark", "copies")) ?? 0,
      live: await ingressCount(e),
      rss: rssBytes(e.pid),
      wasm: wasmResidentBytes(e.pid) ?? null,
      heap: await envoyHeapBytes(e),
      inflight: s.get(envoyStatName("dark", "inflight")) ?? 0,
    };
    samples.push(x);
    return x;
  };
  log(
    `bench: soak: ${SOAK_REQUESTS} mirrored requests (warm-up ${SOAK_WARMUP}), filter at 100%`,
  );
  try {
    await sample();
    // wrk runs for up to 30 minutes; it is stopped when enough requests were mirrored.
    const [cmd, argv] = pinned(
      rig.pin.load,
      "wrk",
      wrkArgs(rig.ports.get("d")!, 1800),
    );
    const wrk = spawn(cmd, argv, { stdio: "ignore" });
    const ended = new Promise((r) => wrk.on("exit", r));
    let last = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 2000));
      const x = await sample();
      if (x.mirrored - last >= 100_000 || x.mirrored >= SOAK_REQUESTS) {
        last = x.mirrored - (x.mirrored % 100_000);
        log(
          `  ${x.mirrored} mirrored, RSS ${(x.rss / 2 ** 20).toFixed(1)} MiB, Wasm ${x.wasm === null ? "?" : (x.wasm / 2 ** 20).toFixed(2)} MiB, ${x.t.toFixed(0)} s`,
        );
      }
      if (x.mirrored >= SOAK_REQUESTS || wrk.exitCode !== null) break;
    }
    wrk.kill("SIGINT");
    await ended;
    await new Promise((r) => setTimeout(r, 2000)); // dark answers still in flight
    await sample();
    const skipped: Record<string, number> = {};
    for (const [k, v] of await e.stats("mirror.dark"))
      if (/skipped|dispatch_failed|rq_reset/.test(k) && v > 0)
        skipped[k.replace("wasmcustom.mirror.dark.", "")] = v;
    const warmIdx = samples.findIndex((s) => s.mirrored >= SOAK_WARMUP);
    const after = samples.slice(warmIdx);
    const end = samples[samples.length - 1];
    const w = samples[warmIdx];
    // least squares of RSS on mirrored count after warm-up
    const n = after.length;
    const mx = after.reduce((s, x) => s + x.mirrored, 0) / n;
    const my = after.reduce((s, x) => s + x.rss, 0) / n;
    const sxy = after.reduce((s, x) => s + (x.mirrored - mx) * (x.rss - my), 0);
    const sxx = after.reduce((s, x) => s + (x.mirrored - mx) ** 2, 0);
    const results: SoakResults = {
      date: new Date().toISOString(),
      command: "npm run bench -- --soak",
      envoy: envoyLine,
      requests: end.mirrored,
      warmup: SOAK_WARMUP,
      seconds: end.t,
      samples,
      rssAtWarmup: w.rss,
      rssAtEnd: end.rss,
      rssMax: Math.max(...after.map((s) => s.rss)),
      wasmAtWarmup: w.wasm,
      wasmAtEnd: end.wasm,
      heapAtWarmup: w.heap,
      heapAtEnd: end.heap,
      rssSlopePer100k: sxx > 0 ? (sxy / sxx) * 100_000 : 0,
      skipped,
      loadBefore,
    };
    const previous = readPrevious();
    await writeResultsJson({ ...previous, soak: results });
    if (previous.main) renderResults(previous.main, results, previous.ab);
    else
      log(
        "bench: no main results yet (run npm run bench): RESULTS.md not rewritten",
      );
    log(
      `bench: soak: RSS ${(w.rss / 2 ** 20).toFixed(1)} → ${(end.rss / 2 ** 20).toFixed(1)} MiB after warm-up ` +
        `(${((end.rss - w.rss) / 2 ** 20).toFixed(2)} MiB), Wasm memory ${w.wasm} → ${end.wasm} bytes`,
    );
  } finally {
    await stopRig(rig);
  }
}

async function microOnly(): Promise<void> {
  const r = await runMicro();
  console.log(JSON.stringify(r, null, 2));
}

/**
 * `--calls`: the host-call costs and the mirrored increments (native, bare mirror, filter) of
 * the full run's "What a host call costs" section, alone (--reps, default 8). Printed, not recorded.
 */
async function callsOnly(): Promise<void> {
  ensureTool("wrk");
  const { bin } = await ensureEnvoy();
  const rig = await startRig(bin, []);
  try {
    const reps = Number(arg("reps") ?? (QUICK ? 1 : 8));
    const h = await hostCallCosts(rig, reps, SECONDS);
    console.log(hostCallText(h) + mirrorFloor(h));
  } finally {
    await stopRig(rig);
  }
}

/** `--render`: rewrites RESULTS.md and latency.svg from results.json (after editing the report). */
async function renderOnly(): Promise<void> {
  const previous = readPrevious();
  if (!previous.main) throw new Error("bench/results.json has no main results");
  renderResults(previous.main, previous.soak, previous.ab);
}

/** `--verdict`: the report's verdict on the table's dark versions (bench/verdict-bench.ts). */
const verdict = () => {
  const n = (name: string) =>
    arg(name) === undefined ? undefined : Number(arg(name));
  return verdictBench({
    seed: n("seed"),
    cases: arg("cases")?.split(","),
    runs: n("runs"),
    requests: n("requests"),
  });
};

const mode = flag("render")
  ? renderOnly
  : flag("soak")
    ? soak
    : flag("micro")
      ? microOnly
      : flag("calls")
        ? callsOnly
        : arg("ab")
          ? ab
          : flag("verdict")
            ? verdict
            : main;
mode().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
