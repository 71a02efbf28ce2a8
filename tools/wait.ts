/** Waiting for a condition, never for a fixed time: polling with a deadline that names what it waited for. */
import { performance } from "node:perf_hooks";

/** Milliseconds on a monotonic clock. */
export const now = () => performance.now();

/** Resolves after `ms`: used only to hold a state for a window, never to wait for one. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms until it returns a truthy value; fails after `timeoutMs` naming `what`. */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()} (last: ${last instanceof Error ? last.message : String(last)})`,
      );
    await sleep(20);
  }
}
