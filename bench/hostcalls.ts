// Host calls per request, counted in the host emulator (tools/emulator/ counts every
// import the module calls, and every call the host makes into the module's `malloc` to hand a
// buffer back): a sampled-out request (the filter at 0%) and a mirrored one (at 100%), each the
// GET `wrk` sends through Envoy, with its 200 response and, when mirrored, its dark answer.
//
//   node --import tsx bench/hostcalls.ts                  the release build/mirror.wasm
//   node --import tsx bench/hostcalls.ts --before REV     also a build of that commit, side by side
//
// tests/host/hostcalls.test.ts pins the counts of the release build, so a regression fails.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Host } from "../tools/emulator/index.ts";
import { REPO_ROOT } from "../tools/paths.ts";
import { isMain } from "../tools/command.ts";

/**
 * The "before" columns of bench/RESULTS.md: the build the targets of being close to native were
 * set against (four single-header reads, a counter increment per request), and the one the work
 * toward them started from (one map read, counters flushed on a tick).
 */
export const BASELINE_REVS = ["38947ed", "5443eaa"];

/** The request headers Envoy hands a filter for `wrk`'s GET (after the HCM added its own). */
export function wrkRequest(requestId: string): Array<[string, string]> {
  return [
    [":authority", "127.0.0.1:10000"],
    [":path", "/"],
    [":method", "GET"],
    [":scheme", "http"],
    ["user-agent", "wrk"],
    ["x-forwarded-proto", "http"],
    ["x-request-id", requestId],
  ];
}

/** The live response the bench's upstream sends (a 64-byte direct_response), as Envoy hands it. */
export const WRK_RESPONSE: Array<[string, string]> = [
  [":status", "200"],
  ["content-length", "64"],
  ["content-type", "text/plain"],
  ["date", "Thu, 01 Jan 2024 00:00:00 GMT"],
  ["server", "envoy"],
  ["x-envoy-upstream-service-time", "0"],
];

/** Host calls per request by name (imports without `env.`, and `malloc`), sorted by name. */
export type CallCounts = Record<string, number>;

export interface HostCallsPerRequest {
  /** the filter at 0%: every request sampled out */
  sampledOut: CallCounts;
  /** the filter at 100%: every request mirrored, its dark answer included */
  mirrored: CallCounts;
}

/**
 * Drives `n` requests through `wasm` at `percentage` (after warm-up requests that fill the
 * module's pools) and returns the host calls per request. The root's stats tick runs every
 * 0.5 s of emulated time; requests are 1 ms apart, so its calls are included, amortized.
 */
export async function countCalls(
  wasm: string,
  percentage: number,
  n = 1000,
): Promise<CallCounts> {
  const host = await Host.load(wasm, { logLevel: "warn" });
  if (!host.configure(JSON.stringify({ cluster: "dark", percentage })))
    throw new Error(`hostcalls: ${wasm} refused the config`);
  const one = () => {
    const s = host.stream();
    s.requestHeaders(wrkRequest(randomUUID()), true);
    s.responseHeaders(WRK_RESPONSE, true);
    s.done();
    for (const c of host.pendingCalls())
      host.respond(c, {
        status: 200,
        headers: { "content-type": "text/plain" },
        body: "x".repeat(64),
      });
    host.advance(1);
    // Envoy calls proxy_on_tick on its timer; the emulator when the test says so.
    if (++sinceTick === 500) {
      sinceTick = 0;
      host.tick();
    }
  };
  let sinceTick = 0;
  for (let i = 0; i < 200; i++) one();
  host.hostCalls.clear();
  for (let i = 0; i < n; i++) one();
  if (host.trapped.length > 0)
    throw new Error(`hostcalls: trapped: ${JSON.stringify(host.trapped[0])}`);
  const out: CallCounts = {};
  for (const k of [...host.hostCalls.keys()].sort())
    out[k] = host.hostCalls.get(k)! / n;
  return out;
}

export async function hostCallsPerRequest(
  wasm: string,
): Promise<HostCallsPerRequest> {
  return {
    sampledOut: await countCalls(wasm, 0),
    mirrored: await countCalls(wasm, 100),
  };
}

/**
 * Compiles assembly/index.ts in `dir` (with the asconfig.json there) as the release target into
 * `outFile` (and its text beside it), plus `extra` options; the compiler's message on failure.
 */
export function ascRelease(
  dir: string,
  outFile: string,
  extra: string[] = [],
): string | null {
  const asc = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, "node_modules", "assemblyscript", "bin", "asc.js"),
      "assembly/index.ts",
      "--target",
      "release",
      ...extra,
      "--outFile",
      outFile,
      "--textFile",
      outFile.replace(/\.wasm$/, ".wat"),
    ],
    { cwd: dir, encoding: "utf8" },
  );
  return asc.status === 0 ? null : asc.stderr;
}

/**
 * The release build of commit `rev` (its assembly/ and asconfig), in a temporary directory. The
 * earlier commits of BASELINE_REVS compiled the SDK's runtime (its exports, malloc and
 * context classes), which needs the patch they committed (patches/, applied on install then) to
 * build with AssemblyScript 0.27: their SDK is a copy of node_modules' with their own patch
 * applied. Today's filter imports only the SDK's host-function declarations, which need none.
 */
export function buildRevision(rev: string): { wasm: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "mirror-hostcalls-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const sh = (script: string, what: string) => {
    const r = spawnSync("sh", ["-c", script], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    });
    if (r.status !== 0) {
      cleanup();
      throw new Error(`hostcalls: ${what} of ${rev}: ${r.stderr}`);
    }
    return r.stdout;
  };
  sh(
    `git archive ${rev} assembly asconfig.json | tar -x -C "${dir}"`,
    "git archive",
  );
  const patches = sh(`git ls-tree --name-only ${rev} patches/`, "the patches")
    .split("\n")
    .filter((f) => f.endsWith(".patch"));
  // node_modules as this checkout has it, but for the SDK: a copy, patched as `rev` patched it.
  const modules = join(dir, "node_modules");
  mkdirSync(join(modules, "@solo-io"), { recursive: true });
  for (const name of readdirSync(join(REPO_ROOT, "node_modules")))
    if (name !== "@solo-io")
      symlinkSync(join(REPO_ROOT, "node_modules", name), join(modules, name));
  cpSync(
    join(REPO_ROOT, "node_modules", "@solo-io", "proxy-runtime"),
    join(modules, "@solo-io", "proxy-runtime"),
    { recursive: true },
  );
  for (const patch of patches) {
    const text = sh(`git show ${rev}:${patch}`, `git show ${patch}`);
    const apply = spawnSync("git", ["apply", "-p1", "-"], {
      cwd: dir,
      input: text,
      encoding: "utf8",
    });
    if (apply.status !== 0) {
      cleanup();
      throw new Error(
        `hostcalls: ${rev}'s ${patch} does not apply: ${apply.stderr}`,
      );
    }
  }
  const wasm = join(dir, "mirror.wasm");
  const err = ascRelease(dir, wasm);
  if (err !== null) {
    cleanup();
    throw new Error(`hostcalls: building ${rev} failed: ${err}`);
  }
  return { wasm, cleanup };
}

/** Sum of a request's host calls. */
export function total(c: CallCounts): number {
  return Object.values(c).reduce((s, x) => s + x, 0);
}

/** A markdown table: one row per host call, one column per build and kind of request. */
export function callsTable(
  builds: Array<{ label: string; calls: HostCallsPerRequest }>,
): string {
  const names = [
    ...new Set(
      builds.flatMap((b) => [
        ...Object.keys(b.calls.sampledOut),
        ...Object.keys(b.calls.mirrored),
      ]),
    ),
  ].sort((a, b) => (a === "malloc" ? 1 : b === "malloc" ? -1 : a < b ? -1 : 1));
  const fmt = (x: number | undefined) =>
    x === undefined || x === 0 ? "–" : String(Math.round(x * 1000) / 1000);
  const head =
    "| host call | " +
    builds
      .map((b) => `${b.label}: sampled out | ${b.label}: mirrored`)
      .join(" | ") +
    " |\n| --- |" +
    " ---: | ---: |".repeat(builds.length) +
    "\n";
  const rows = names.map(
    (n) =>
      `| ${n === "malloc" ? "malloc (host → module)" : `\`${n}\``} | ` +
      builds
        .map(
          (b) => `${fmt(b.calls.sampledOut[n])} | ${fmt(b.calls.mirrored[n])}`,
        )
        .join(" | ") +
      " |",
  );
  const totals =
    "| **total** | " +
    builds
      .map(
        (b) =>
          `**${fmt(total(b.calls.sampledOut))}** | **${fmt(total(b.calls.mirrored))}**`,
      )
      .join(" | ") +
    " |";
  return head + [...rows, totals].join("\n") + "\n";
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf("--before");
  const builds: Array<{ label: string; calls: HostCallsPerRequest }> = [];
  if (i > 0) {
    const rev = process.argv[i + 1] ?? BASELINE_REVS[1];
    const b = buildRevision(rev);
    try {
      builds.push({ label: rev, calls: await hostCallsPerRequest(b.wasm) });
    } finally {
      b.cleanup();
    }
  }
  const { WASM } = await import("./envoy.ts");
  builds.push({ label: "this build", calls: await hostCallsPerRequest(WASM) });
  process.stdout.write(callsTable(builds));
}
