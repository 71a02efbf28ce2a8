// Micro benchmark: nanoseconds per request of the filter in the host emulator
// (tools/emulator/, Node's WebAssembly, the release build/mirror.wasm).
//
// - decision: a GET at 0% (decision only: single-header reads, hash, sampled out), its response
//   headers, and the stream's teardown;
// - mirrored: the same GET at 100%: decision, the whole header map read, the copy built and
//   dispatched, the live response, teardown, and the dark response delivered to the root;
// - floor: the same driving calls on an empty proxy-wasm module (every callback returns at
//   once), i.e. what the emulator itself costs; "filter" columns subtract it.
//
// Host calls are emulated in JavaScript, so absolute numbers are not Envoy's; they rank changes
// to the filter's hot path. `node --import tsx bench/micro.ts` prints them; `--profile` also
// profiles the mirrored and decision loops with V8's sampling profiler on a copy of the release
// build that keeps function names (asc --debug: same code, plus a name section).
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Host } from "../tools/emulator/index.ts";
import {
  ascRelease,
  countCalls,
  WRK_RESPONSE,
  wrkRequest,
} from "./hostcalls.ts";
import { REPO_ROOT } from "../tools/paths.ts";
import { metricName } from "../scripts/metrics.ts";
import { WASM } from "./envoy.ts";
import { nullFilterWasm } from "./nullwasm.ts";
import { isMain } from "../tools/command.ts";

const RELEASE = WASM;

const liveHeaders = wrkRequest;
const RESPONSE = WRK_RESPONSE;

type Kind = "decision" | "mirrored";

/** Runs `n` requests of `kind` on a fresh host; returns ns per request. */
async function batch(
  wasm: string | Uint8Array,
  kind: Kind,
  ids: string[],
  n: number,
  empty: boolean,
): Promise<number> {
  const host = await Host.load(wasm, { logLevel: "warn" });
  const percentage = kind === "decision" ? 0 : 100;
  if (!host.configure(JSON.stringify({ cluster: "dark", percentage })))
    throw new Error("micro: configure refused");
  const headers = ids.map(liveHeaders);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const s = host.stream();
    s.requestHeaders(headers[i % headers.length], true);
    s.responseHeaders(RESPONSE, true);
    s.done();
    if (kind === "mirrored") {
      if (empty) continue;
      const calls = host.pendingCalls();
      if (calls.length !== 1)
        throw new Error(`micro: expected one dispatch, got ${calls.length}`);
      host.respond(calls[0], { status: 200, body: "ok" });
    }
  }
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (host.trapped.length > 0)
    throw new Error(`micro: trapped: ${JSON.stringify(host.trapped[0])}`);
  if (kind === "mirrored" && !empty) {
    // dark response bodies are emulator state that grows; a batch is one host
    for (const id of host.tickPeriods.keys()) host.tick(id);
    const m = host.counter(metricName("dark", "copies"));
    if (m !== n) throw new Error(`micro: mirrored ${m} of ${n}`);
  }
  return ns;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[s.length >> 1]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export interface MicroResult {
  /** ns per request, median of the batches */
  decisionNs: number;
  mirroredNs: number;
  /** the emulator alone, same driving calls */
  floorDecisionNs: number;
  floorMirroredNs: number;
  /** host calls per request, by import name */
  hostCalls: {
    decision: Record<string, number>;
    mirrored: Record<string, number>;
  };
  batches: number;
  perBatch: number;
  releaseBytes: number;
  node: string;
}

/** The micro benchmark: `batches` × `perBatch` requests of each kind, after a warm-up. */
export async function runMicro(
  batches = 7,
  perBatch = 20_000,
): Promise<MicroResult> {
  const ids = Array.from({ length: 4096 }, () => randomUUID());
  const empty = nullFilterWasm();
  const out: Record<string, number[]> = {};
  const kinds: Array<[string, string | Uint8Array, Kind, boolean]> = [
    ["decision", RELEASE, "decision", false],
    ["mirrored", RELEASE, "mirrored", false],
    ["floorDecision", empty, "decision", true],
    ["floorMirrored", empty, "mirrored", true],
  ];
  // warm-up: JIT of the emulator and tier-up of the module
  for (const [, w, k, e] of kinds) await batch(w, k, ids, perBatch / 2, e);
  for (let b = 0; b < batches; b++)
    for (const [name, w, k, e] of kinds)
      (out[name] ??= []).push(await batch(w, k, ids, perBatch, e));
  return {
    decisionNs: median(out.decision),
    mirroredNs: median(out.mirrored),
    floorDecisionNs: median(out.floorDecision),
    floorMirroredNs: median(out.floorMirrored),
    hostCalls: {
      decision: await countCalls(RELEASE, 0),
      mirrored: await countCalls(RELEASE, 100),
    },
    batches,
    perBatch,
    releaseBytes: readFileSync(RELEASE).length,
    node: process.version,
  };
}

/** One row of a V8 CPU profile: self time of a function, as a share of the loop's samples. */
export interface ProfileRow {
  fn: string;
  wasm: boolean;
  share: number;
}

/** Where a loop's time goes: every function's self time; the module's functions apart. */
export interface MicroProfile {
  /** share of the loop's samples inside the module's own functions */
  wasmShare: number;
  /** the module's self time by part: filter, SDK, allocator and GC, standard library, host-call stubs */
  groups: Record<string, number>;
  top: ProfileRow[];
  topWasm: ProfileRow[];
}

/**
 * Profiles `kind` requests on a names-keeping copy of the release build, in a child Node with
 * --cpu-prof; returns the functions with the most self time.
 */
/**
 * A copy of the release build that keeps function names (asc --debug: the same optimized code
 * plus a name section), compiled from the sources in `root` (the repository by default). Build
 * it when the measured release is built, so that both come from the same sources.
 */
export function buildNamedWasm(root = REPO_ROOT): string {
  // asc reads asconfig.json from its working directory (naming it with --config as well would
  // add that file's entries a second time)
  if (!existsSync(join(root, "asconfig.json")))
    copyFileSync(join(REPO_ROOT, "asconfig.json"), join(root, "asconfig.json"));
  const dir = mkdtempSync(join(tmpdir(), "mirror-bench-names-"));
  const named = join(dir, "mirror.names.wasm");
  const err = ascRelease(root, named, ["--debug"]);
  if (err !== null) throw new Error(`asc --debug failed: ${err}`);
  return named;
}

export function profileMicro(
  kind: Kind,
  named = buildNamedWasm(),
  top = 15,
): MicroProfile {
  const dir = mkdtempSync(join(tmpdir(), "mirror-bench-prof-"));
  const run = spawnSync(
    process.execPath,
    [
      "--cpu-prof",
      "--cpu-prof-dir",
      dir,
      "--cpu-prof-interval",
      "100",
      "--import",
      "tsx",
      fileURLToPath(import.meta.url),
      "--loop",
      kind,
      named,
    ],
    { cwd: REPO_ROOT, encoding: "utf8" },
  );
  if (run.status !== 0) throw new Error(`profile run failed: ${run.stderr}`);
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))!;
  const prof = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
    nodes: Array<{
      id: number;
      callFrame: { functionName: string; url: string };
      children?: number[];
    }>;
    samples: number[];
  };
  // Only samples under the measured loop (`batch`), so module loading and tsx do not count.
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes)
    for (const c of n.children ?? []) parent.set(c, n.id);
  const inLoop = new Map<number, boolean>();
  const under = (id: number): boolean => {
    if (inLoop.has(id)) return inLoop.get(id)!;
    const n = byId.get(id)!;
    const r =
      n.callFrame.functionName === "batch"
        ? true
        : parent.has(id)
          ? under(parent.get(id)!)
          : false;
    inLoop.set(id, r);
    return r;
  };
  const self = new Map<string, { n: number; wasm: boolean }>();
  let total = 0;
  for (const s of prof.samples) {
    if (!under(s)) continue;
    total++;
    const cf = byId.get(s)!.callFrame;
    const wasm = cf.url.startsWith("wasm://");
    const name = wasm
      ? stubName(cf.functionName.replace(/^\$/, ""))
      : `${cf.functionName || "(anonymous)"} [${cf.url.split("/").pop() || "native"}]`;
    const e = self.get(name) ?? { n: 0, wasm };
    e.n++;
    self.set(name, e);
  }
  const rows = [...self.entries()]
    .map(([fn, e]) => ({ fn, wasm: e.wasm, share: e.n / total }))
    .sort((a, b) => b.share - a.share);
  const wasmRows = rows.filter((r) => r.wasm);
  const wasmShare = wasmRows.reduce((s, r) => s + r.share, 0);
  const groups: Record<string, number> = {};
  for (const r of wasmRows) {
    const g = groupOf(r.fn);
    groups[g] = (groups[g] ?? 0) + r.share;
  }
  return {
    wasmShare,
    groups,
    top: rows.slice(0, top),
    topWasm: wasmRows.slice(0, top),
  };
}

/**
 * V8 names an import's wasm-to-js stub after the first import of its signature: the stub of
 * `iiiii:i` is shared by proxy_get_header_map_value and proxy_get_buffer_bytes, for instance.
 */
function stubName(fn: string): string {
  const m = /^wasm-to-js:([^-]+)-/.exec(fn);
  return m
    ? `wasm-to-js:${m[1]} (host-call stub of every import with signature ${m[1]})`
    : fn;
}

/** Which part of the module a function (by its name-section name) belongs to. */
function groupOf(fn: string): string {
  if (fn.startsWith("wasm-to-js")) return "host-call stubs (wasm-to-js)";
  if (fn.startsWith("~lib/rt/")) return "allocator and GC (~lib/rt)";
  if (fn.includes("@solo-io/proxy-runtime")) return "SDK (proxy-runtime)";
  if (fn.startsWith("assembly/")) return "filter (assembly/)";
  if (fn.startsWith("~lib/")) return "standard library (~lib)";
  return "other";
}

async function profiledLoop(wasm: string, kind: Kind): Promise<void> {
  const ids = Array.from({ length: 4096 }, () => randomUUID());
  for (let i = 0; i < 12; i++) await batch(wasm, kind, ids, 20_000, false);
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf("--loop");
  if (i > 0) {
    await profiledLoop(process.argv[i + 2], process.argv[i + 1] as Kind);
  } else {
    if (!process.argv.includes("--profile-only"))
      console.log(JSON.stringify(await runMicro(), null, 2));
    if (process.argv.some((a) => a.startsWith("--profile"))) {
      for (const k of ["decision", "mirrored"] as const) {
        console.log(`\nprofile: ${k}`);
        const p = profileMicro(k);
        console.log(`wasm: ${(p.wasmShare * 100).toFixed(1)}%`);
        for (const row of p.topWasm)
          console.log(
            `${(row.share * 100).toFixed(1).padStart(5)}%  ${row.fn}`,
          );
        for (const row of p.top)
          console.log(
            `${(row.share * 100).toFixed(1).padStart(5)}%  ${row.fn}`,
          );
      }
    }
  }
}
