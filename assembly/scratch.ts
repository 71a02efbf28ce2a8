// The module's memory: its `malloc` (the ABI's allocation entry point: the host calls it to return
// a buffer from proxy_get_buffer_bytes, proxy_get_header_map_pairs, ...), with one addition: a
// read that the filter only scans and drops (a body slice it hashes, the header map of a request
// it does not mirror) lands in one static scratch area instead of a new GC object, so such reads
// allocate nothing and leave no garbage behind; and when the filter asks for a collection.

/** Bytes of the scratch area: larger reads are allocated as usual. */
export const SCRATCH_SIZE: i32 = 128 << 10;
/**
 * Where the scratch area starts (static data, never collected). Lazy: static data is laid out in
 * the order it is compiled, and compiled when this file is, the 128 KiB would come before most of
 * the module's strings and give each use of their addresses a byte more (about 450 bytes in all).
 */
// @ts-ignore: decorator
@lazy
export const SCRATCH_PTR: usize = memory.data(SCRATCH_SIZE, 16);

let armed = false;

/** The next allocation the host asks for, if it fits, is the scratch area. */
export function armScratch(): void {
  armed = true;
}

/** Disarms the scratch area (after the host call, whether or not it allocated). */
export function disarmScratch(): void {
  armed = false;
}

/** Whether `ptr` (a buffer the host returned) is the scratch area. */
export function isScratch(ptr: usize): bool {
  return ptr == SCRATCH_PTR;
}

/** Allows the host to allocate memory: pinned until the filter takes the buffer over. */
export function malloc(size: i32): usize {
  if (armed && size >= 0 && size <= SCRATCH_SIZE) {
    armed = false;
    return SCRATCH_PTR;
  }
  armed = false;
  return __pin(changetype<usize>(new ArrayBuffer(size)));
}

// ---- Collection: when the filter asks the runtime to collect.

/** Completed callbacks between two garbage collections… */
const COLLECT_EVERY: u32 = 64;
/** …or bytes read from the host or allocated for copies, whichever comes first. */
const COLLECT_AFTER_BYTES: usize = 4 << 20;

let callbacksSinceCollect: u32 = 0;
let bytesSinceCollect: usize = 0;

/** `n` bytes were allocated (or handed over by the host): they count towards the next collection. */
export function noteAllocated(n: usize): void {
  bytesSinceCollect += n;
}

/**
 * The minimal runtime (a third of the incremental one's size) collects only when asked. It is
 * asked here, at the end of a callback, when every live object is reachable from globals
 * (contexts, configs, pending calls), never from a local that is still in use.
 */
export function collectSometimes(): void {
  if (
    ++callbacksSinceCollect < COLLECT_EVERY &&
    bytesSinceCollect < COLLECT_AFTER_BYTES
  ) {
    return;
  }
  callbacksSinceCollect = 0;
  bytesSinceCollect = 0;
  __collect();
}
