/**
 * The run registry: files shared by the test files of one e2e run (each file runs in its own
 * process, a child of the runner), read by the suite's last step (tests/e2e/last/security.ts):
 * what each case's upstreams received, and the fault table. Also what the security check needs to
 * know of a plugin config: whether it keeps the default safety rules, and its edge-mode marker.
 */
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import type http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Recorded, Upstream } from "./upstream.ts";

function processStartTime(pid: number): string {
  try {
    // Field 22 of /proc/PID/stat (after the parenthesised command name): start time in ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "0";
  } catch {
    return "0";
  }
}

/**
 * The directory of this run's registry: `$MIRROR_E2E_RUN_DIR`, or one per test-runner process
 * (its pid and start time, so a recycled pid never sees an old run's files).
 */
export const RUN_DIR =
  process.env.MIRROR_E2E_RUN_DIR ??
  join(
    tmpdir(),
    `mirror-e2e-run-${process.ppid}-${processStartTime(process.ppid)}`,
  );

let swept = false;

/** Removes the registries of runs whose runner process is gone (runs of single files never read theirs). */
function sweepStaleRegistries(): void {
  if (swept) return;
  swept = true;
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^mirror-e2e-run-(\d+)-\d+$/.exec(name)?.[1]);
    if (!pid || pid === process.ppid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH")
        rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/** Appends one JSON line to the registry file `kind`. */
export function appendRegistry(kind: string, entry: object): void {
  sweepStaleRegistries();
  mkdirSync(RUN_DIR, { recursive: true });
  appendFileSync(join(RUN_DIR, `${kind}.jsonl`), JSON.stringify(entry) + "\n");
}

/** Every entry of the registry file `kind` in this run (none when no test wrote one). */
export function readRegistry<T = Record<string, unknown>>(kind: string): T[] {
  const file = join(RUN_DIR, `${kind}.jsonl`);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

/** Names of the registry files of this run. */
export function registryKinds(): string[] {
  if (!existsSync(RUN_DIR)) return [];
  return readdirSync(RUN_DIR)
    .filter((f) => f.endsWith(".jsonl"))
    .map((f) => f.slice(0, -".jsonl".length));
}

/** Methods mirrored by default. */
export const SAFE_METHODS = ["GET", "HEAD", "OPTIONS"];

/** A value of each header the default `headers.remove` strips, as a client sends it. */
export const CREDENTIALS: Record<string, string> = {
  authorization: "Bearer live-user-token",
  "proxy-authorization": "Basic cHJveHk6c2VjcmV0",
  cookie: "session=s3cr3t; theme=dark",
  "x-forwarded-client-cert": "By=spiffe://cluster.local/ns/a/sa/b;Hash=abc",
};
export const CREDENTIAL_HEADERS = Object.keys(CREDENTIALS);

function parsedPlugin(plugin: unknown): Record<string, any> | undefined {
  try {
    const o = typeof plugin === "string" ? JSON.parse(plugin) : plugin;
    return o && typeof o === "object" && !Array.isArray(o)
      ? (o as Record<string, any>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The plugin keeps the default safety rules: no `methods`, `unsafe_paths` or `headers` set. */
export function hasDefaultSafety(plugin: unknown): boolean {
  const o = parsedPlugin(plugin);
  return (
    o !== undefined &&
    !("methods" in o) &&
    !("unsafe_paths" in o) &&
    !("headers" in o)
  );
}

/** The marker header of a plugin in edge mode (`marker.inbound: "strip"`), else undefined. */
export function stripMarkerOf(plugin: unknown): string | undefined {
  const o = parsedPlugin(plugin);
  if (o?.marker?.inbound !== "strip") return undefined;
  return String(o.marker.header ?? "x-shadow").toLowerCase();
}

/** What one upstream of one case received, summed up for the whole-suite security check. */
export interface TrafficEntry {
  file: string;
  scenario: string;
  envoy: string;
  upstream: string;
  /** The strip-mode marker, for `strip-live` entries. */
  marker?: string;
  records: number;
  methods: Record<string, number>;
  /** Lower-cased header name → number of records carrying it. */
  headers: Record<string, number>;
  /** Up to 5 records with an unsafe method, a credential header or the marker (for `strip-live`). */
  suspects: Array<{
    method: string;
    path: string;
    headers: http.IncomingHttpHeaders;
  }>;
}

/** What `u` received, summed up as an entry of the security registry; `suspicious` picks suspects. */
export function summariseTraffic(
  u: Upstream,
  base: Omit<TrafficEntry, "records" | "methods" | "headers" | "suspects">,
  suspicious: (r: Recorded) => boolean,
): TrafficEntry {
  const entry: TrafficEntry = {
    ...base,
    records: u.records.length,
    methods: {},
    headers: {},
    suspects: [],
  };
  for (const r of u.records) {
    entry.methods[r.method] = (entry.methods[r.method] ?? 0) + 1;
    const names = new Set<string>();
    for (let i = 0; i < r.rawHeaders.length; i += 2)
      names.add(r.rawHeaders[i].toLowerCase());
    for (const n of names) entry.headers[n] = (entry.headers[n] ?? 0) + 1;
    if (entry.suspects.length < 5 && suspicious(r))
      entry.suspects.push({
        method: r.method,
        path: r.path,
        headers: r.headers,
      });
  }
  return entry;
}
