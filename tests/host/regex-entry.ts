// assembly/regex.ts over raw pointers, for tests/host/regex.test.ts, which compiles this file with
// asc into build/ (minimal runtime and the filter's optimisation levels). Patterns and values go
// through one input buffer; an error comes back through one output buffer.

import { Regex, compileRegex, regexError } from "../../assembly/regex";

let input = new StaticArray<u8>(1 << 16);
const output = new StaticArray<u8>(1 << 12);
let regex: Regex | null = null;

/** The input buffer, at least `len` bytes. */
export function inputBuffer(len: i32): usize {
  if (len > input.length) input = new StaticArray<u8>(len);
  return changetype<usize>(input);
}

export function outputBuffer(): usize {
  return changetype<usize>(output);
}

/**
 * Compiles the UTF-8 pattern of `len` bytes in the input buffer: its program size, or minus the
 * length of the error written to the output buffer.
 */
export function compile(len: i32): i32 {
  regex = null;
  __collect();
  const r = compileRegex(
    String.UTF8.decodeUnsafe(changetype<usize>(input), <usize>len),
  );
  if (r === null) {
    const b = String.UTF8.encode(regexError);
    const n = min(b.byteLength, output.length);
    memory.copy(changetype<usize>(output), changetype<usize>(b), <usize>n);
    return -n;
  }
  regex = r;
  return r.size;
}

/** Whether the `len` bytes in the input buffer match the last pattern compiled as a whole. */
export function matches(len: i32): i32 {
  const r = regex;
  if (r === null) return -1;
  return r.matches(changetype<usize>(input), len) ? 1 : 0;
}

/** Bytes of linear memory, to see that matching allocates nothing. */
export function memoryBytes(): i32 {
  return memory.size() << 16;
}
