// The services of the verdict benchmark: how the live version, its baseline copy and the dark
// version answer one request. A request's latency is mostly its own work — a lognormal draw
// (median 15 ms, p95 40 ms) derived from a hash of its x-request-id, the same on every side, as
// a real copy of a service does the same work for the same request — plus a small jitter drawn
// independently per side. Every random choice (the work, the jitter, an injected error, a changed
// field) is a hash of the run's seed, the side and the request id: a run is repeatable from its
// seed and ids, and the sides' choices are independent of each other.
import { createHash, randomUUID } from "node:crypto";

/** The live service's latency: lognormal with this median and 95th percentile (ms). */
export const WORK_MEDIAN_MS = 15;
export const WORK_P95_MS = 40;
/** Each side adds its own jitter, uniform in [0, JITTER_MS) ms, independent of the other side. */
export const JITTER_MS = 2;
const SIGMA = Math.log(WORK_P95_MS / WORK_MEDIAN_MS) / 1.6448536269514722;

/** How one side (live, dark, baseline) answers, relative to the live service. */
export interface Behaviour {
  /** multiplies the request's work (a faster version: below 1) [1] */
  workScale?: number;
  /** added to every answer, ms [0] */
  addMs?: number;
  /** added to this fraction of answers, chosen by request [none] */
  tail?: { fraction: number; addMs: number };
  /** this fraction of answers are 500, chosen independently per side [0] */
  errorFraction?: number;
  /** gRPC: this fraction of calls answer grpc-status 14 (UNAVAILABLE) [0] */
  grpcErrorFraction?: number;
  /** this fraction of JSON bodies have one field changed [0] */
  changedFraction?: number;
}

/**
 * What every side's JSON body carries besides the request's own fields: `ignored`, fields that
 * differ between any two instances and are listed in `compare.ignore` (when it was served, and
 * by which instance); `random_id`, a random id field and no ignore list (the baseline's case).
 */
export type BodyKind = "ignored" | "random_id";

/** The fields a body of kind "ignored" carries that differ between instances. */
export const IGNORED_FIELDS = ["/served_at", "/served_by"];

/** A uniform number in [0, 1) from the seed and the parts (SHA-256, 48 bits). */
export function uniform(seed: number, ...parts: string[]): number {
  const h = createHash("sha256")
    .update(`${seed}:${parts.join(":")}`)
    .digest();
  return h.readUIntBE(0, 6) / 2 ** 48;
}

/** The request's work in ms: lognormal, from its id alone (the same on every side). */
export function workMs(seed: number, id: string): number {
  // Box–Muller from two uniforms of the id
  const u1 = Math.max(uniform(seed, "work1", id), 1e-12);
  const u2 = uniform(seed, "work2", id);
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  return WORK_MEDIAN_MS * Math.exp(SIGMA * z);
}

/** The x-request-id of the i-th request of a run: a UUID derived from the seed. */
export function requestId(seed: number, i: number): string {
  const h = createHash("sha256").update(`${seed}:request:${i}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** One side's answer to the request `id`. */
export interface Answer {
  delayMs: number;
  /** HTTP status (gRPC answers are 200) */
  status: number;
  /** gRPC: the grpc-status sent in the trailers */
  grpcStatus?: number;
  /** the JSON body (HTTP/1.1 answers) */
  body?: string;
  /** what was injected, for the run's counts */
  injected: { error: boolean; changed: boolean; tail: boolean };
}

/**
 * How `side` (its name salts its independent choices: jitter and errors) answers the request
 * `id` under `b`. The tail and the changed field are choices of the dark version about the
 * request, salted by what they are, not by the side.
 */
export function answer(
  seed: number,
  side: string,
  b: Behaviour,
  id: string,
  bodyKind: BodyKind,
  instance: string,
): Answer {
  const tail =
    b.tail !== undefined && uniform(seed, "tail", id) < b.tail.fraction;
  const delayMs =
    workMs(seed, id) * (b.workScale ?? 1) +
    (b.addMs ?? 0) +
    (tail ? b.tail!.addMs : 0) +
    JITTER_MS * uniform(seed, side, "jitter", id);
  const error = uniform(seed, side, "error", id) < (b.errorFraction ?? 0);
  const grpcError =
    uniform(seed, side, "grpc", id) < (b.grpcErrorFraction ?? 0);
  const changed = uniform(seed, "changed", id) < (b.changedFraction ?? 0);
  const fields: Record<string, unknown> = {
    order: id,
    total: Math.round(1000 * uniform(seed, "total", id)) / 100,
    items: [
      { sku: `sku-${id.slice(0, 4)}`, quantity: 1 + (id.charCodeAt(0) % 3) },
    ],
  };
  if (changed) fields.total = (fields.total as number) + 1;
  if (bodyKind === "ignored") {
    fields.served_at = new Date().toISOString();
    fields.served_by = instance;
  } else fields.id = randomUUID();
  return {
    delayMs,
    status: error ? 500 : 200,
    grpcStatus: grpcError ? 14 : 0,
    body: error
      ? JSON.stringify({ error: "internal" })
      : JSON.stringify(fields),
    injected: { error: error || grpcError, changed: changed && !error, tail },
  };
}
