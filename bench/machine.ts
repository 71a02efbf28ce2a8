// The machine the benchmark runs on and the load it drives: wrk (closed loop), oload
// (bench/oload.c, open loop) built with cc, perf when present (Debian's, installed by
// tools/provision/debian.ts); CPU pinning, /proc/stat and percentiles.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { onPath, REPO_ROOT } from "../tools/paths.ts";
import { ensureTool } from "../tools/provision/debian.ts";

/**
 * `ensureTool` for what the benchmark can do without (perf): whether it is there, the reason on
 * stderr when not.
 */
export function optionalTool(name: string): boolean {
  try {
    ensureTool(name);
    return true;
  } catch (err) {
    process.stderr.write(
      `bench: ${name} not available (${err instanceof Error ? err.message : err}); continuing without it\n`,
    );
    return false;
  }
}

/** Builds bench/oload.c into a temp dir; returns the binary's path. */
export function buildOload(): string {
  ensureTool("cc");
  const out = join(mkdtempSync(join(tmpdir(), "mirror-bench-oload-")), "oload");
  execFileSync("cc", ["-O2", "-o", out, join(REPO_ROOT, "bench", "oload.c")], {
    stdio: "inherit",
  });
  return out;
}

/** Cores for the measured Envoy and for everything else (load, upstreams, this process). */
export interface Pinning {
  envoy?: number;
  load?: number;
}

/** On two or more cores: the measured Envoy alone on the last core, the rest on core 0. */
export function pinning(): Pinning {
  const n = cpus().length;
  if (n < 2 || !onPath("taskset")) return {};
  spawnSync("taskset", ["-pc", "0", String(process.pid)], { stdio: "ignore" });
  return { envoy: n - 1, load: 0 };
}

export function pinned(
  cpu: number | undefined,
  cmd: string,
  args: string[],
): [string, string[]] {
  return cpu === undefined
    ? [cmd, args]
    : ["taskset", ["-c", String(cpu), cmd, ...args]];
}

/** Runs a command to completion; resolves with its stdout (rejects on a non-zero exit). */
export function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolveP, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolveP(out)
        : reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}\n${err}`)),
    );
  });
}

/** What one wrk run reports. */
export interface WrkResult {
  rps: number;
  requests: number;
  errors: number;
}

export function parseWrk(out: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(
    /Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0,
  );
  const sock =
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
      out,
    );
  const errors =
    non2xx + (sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  return { rps, requests, errors };
}

/** Per CPU from /proc/stat: busy (steal included) and total jiffies, and steal alone. */
export interface CoreTimes {
  busy: number;
  total: number;
  steal: number;
}

export function cpuTimes(): CoreTimes[] {
  const out: CoreTimes[] = [];
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    const idle = v[3] + v[4];
    const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
    out[Number(m[1])] = { busy: total - idle, total, steal: v[7] ?? 0 };
  }
  return out;
}

/** Share of time each CPU was busy between two `cpuTimes()` readings. */
export function busyShare(a: CoreTimes[], b: CoreTimes[]): number[] {
  return b.map((x, i) =>
    x.total - a[i].total > 0
      ? (x.busy - a[i].busy) / (x.total - a[i].total)
      : 0,
  );
}

/** Share of time the hypervisor gave each (virtual) CPU to someone else (steal). */
export function stealShare(a: CoreTimes[], b: CoreTimes[]): number[] {
  return b.map((x, i) =>
    x.total - a[i].total > 0
      ? (x.steal - a[i].steal) / (x.total - a[i].total)
      : 0,
  );
}

/** This run's command as a user types it, for the results (an argument with a space quoted). */
export function benchCommand(): string {
  const args = process.argv
    .slice(2)
    .map((a) => (a.includes(" ") ? JSON.stringify(a) : a));
  return "npm run bench" + (args.length ? ` -- ${args.join(" ")}` : "");
}

export function loadAverage(): number[] {
  return readFileSync("/proc/loadavg", "utf8")
    .split(" ")
    .slice(0, 3)
    .map(Number);
}

export function cpuModel(): string {
  const m = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
  return m ? m[1].trim() : (cpus()[0]?.model ?? "unknown");
}

export function commandVersion(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return ((r.stdout ?? "") + (r.stderr ?? "")).trim().split("\n")[0] ?? "";
}

/** Percentile (0..1) of an ascending array, nearest rank. */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(
    sorted.length - 1,
    Math.max(0, Math.ceil(p * sorted.length) - 1),
  );
  return sorted[i];
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2
    ? s[s.length >> 1]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Reads oload's output file: latencies (µs, from the scheduled time), ascending. */
export function readLatencies(file: string): Float64Array {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const out: number[] = [];
  for (const line of text.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp > 0) out.push(Number(line.slice(0, sp)));
  }
  return Float64Array.from(out).sort();
}

/** perf's CPU share per shared object of a process over `seconds` (cpu-clock samples). */
export async function perfByDso(
  pid: number,
  seconds: number,
): Promise<Record<string, number> | null> {
  if (!onPath("perf")) return null;
  const file = join(
    mkdtempSync(join(tmpdir(), "mirror-bench-perf-")),
    "perf.data",
  );
  try {
    await run("perf", [
      "record",
      "-q",
      "-e",
      "cpu-clock",
      "-p",
      String(pid),
      "-o",
      file,
      "--",
      "sleep",
      String(seconds),
    ]);
    const rep = await run("perf", [
      "report",
      "-i",
      file,
      "--sort",
      "dso",
      "--stdio",
      "-q",
    ]);
    const out: Record<string, number> = {};
    for (const line of rep.split("\n")) {
      const m = /^\s*([\d.]+)%\s+(.+?)\s*$/.exec(line);
      if (!m) continue;
      // V8's generated code (the Wasm module compiled by Liftoff/TurboFan, and its stubs)
      const dso =
        m[2].startsWith("[JIT]") || m[2] === "[unknown]"
          ? "V8 generated code (the filter's Wasm)"
          : m[2];
      out[dso] = (out[dso] ?? 0) + Number(m[1]) / 100;
    }
    return out;
  } catch (e) {
    process.stderr.write(
      `bench: perf failed (${(e as Error).message.split("\n")[0]}); no profile\n`,
    );
    return null;
  }
}
