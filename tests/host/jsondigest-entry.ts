// The JsonDigest API over raw pointers, for tests/host/jsondigest.test.ts, which compiles this
// file with asc into build/ (AssemblyScript, minimal runtime, as the filter).
// Two digests, 0 (live) and 1 (dark), made for the rules last set; bytes go through one input
// buffer, text comes back through one output buffer.

import { JsonKind, parseJson } from "../../assembly/json";
import {
  JsonDigest,
  digestFootprint,
  firstDifference,
} from "../../assembly/jsondigest";
import {
  IgnoreRules,
  compileIgnore,
  ignoreError,
} from "../../assembly/jsonignore";

let input = new StaticArray<u8>(1 << 16);
let output = new StaticArray<u8>(1 << 12);
let rules: IgnoreRules | null = null;
let live = new JsonDigest(null);
let dark = new JsonDigest(null);
const kept: StaticArray<JsonDigest | null>[] = [];

function digestOf(which: i32): JsonDigest {
  return which == 0 ? live : dark;
}

/** Writes `s` as UTF-8 to the output buffer; returns its length. */
function answer(s: string): i32 {
  const b = String.UTF8.encode(s);
  const n = min(b.byteLength, output.length);
  memory.copy(changetype<usize>(output), changetype<usize>(b), <usize>n);
  return n;
}

/** The input buffer, at least `len` bytes. */
export function inputBuffer(len: i32): usize {
  if (len > input.length) input = new StaticArray<u8>(len);
  return changetype<usize>(input);
}

export function outputBuffer(): usize {
  return changetype<usize>(output);
}

/**
 * Sets the rules from a JSON array of pattern strings (`len` bytes in the input buffer) and makes
 * both digests anew. Returns 0, or the length of the error in the output buffer.
 */
export function setRules(len: i32): i32 {
  __collect(); // the digests made for the previous rules, earlier answers
  const parsed = parseJson(
    String.UTF8.decodeUnsafe(changetype<usize>(input), <usize>len),
  );
  const v = parsed.value;
  if (v === null || v.kind != JsonKind.Array)
    return answer("not an array: " + parsed.error);
  const patterns: string[] = [];
  for (let i = 0; i < v.items.length; i++) patterns.push(v.items[i].str);
  const r = compileIgnore(patterns);
  if (r === null) return answer(ignoreError);
  rules = r;
  live = new JsonDigest(r);
  dark = new JsonDigest(r);
  return 0;
}

export function reset(which: i32): void {
  digestOf(which).reset();
}

export function update(which: i32, ptr: usize, len: usize): void {
  digestOf(which).update(ptr, len);
}

export function finish(which: i32): void {
  digestOf(which).finish();
}

export function state(which: i32): i32 {
  return digestOf(which).state;
}

export function digest(which: i32): u64 {
  return digestOf(which).digest;
}

export function exact(which: i32): u64 {
  return digestOf(which).exact;
}

export function bytes(which: i32): u64 {
  return digestOf(which).bytes;
}

/** firstDifference(live, dark) in the output buffer; returns its length. */
export function difference(): i32 {
  return answer(firstDifference(live, dark));
}

export function footprint(): i32 {
  return digestFootprint(rules);
}

/**
 * On a fresh instance (nothing freed yet, so the allocator hands out consecutive blocks): compiles
 * the rules in the input buffer (`len` bytes, as setRules), makes `n` digests for them and keeps
 * them; returns the distance between consecutive digests, i.e. the bytes each one takes.
 */
export function measure(len: i32, n: i32): i32 {
  const parsed = parseJson(
    String.UTF8.decodeUnsafe(changetype<usize>(input), <usize>len),
  );
  const patterns: string[] = [];
  const v = parsed.value;
  if (v !== null) {
    for (let i = 0; i < v.items.length; i++) patterns.push(v.items[i].str);
  }
  rules = compileIgnore(patterns);
  const list = new StaticArray<JsonDigest | null>(n);
  kept.push(list);
  for (let i = 0; i < n; i++) list[i] = new JsonDigest(rules);
  if (n < 2) return 0;
  const first = changetype<usize>(list[0]);
  return <i32>(changetype<usize>(list[n - 1]) - first) / (n - 1);
}

/** Frees what is no longer reachable (the minimal runtime collects only when asked). */
export function collect(): void {
  __collect();
}
