// Builds tests/e2e/trap/index.ts (the filter plus a trap on `x-test-trap`) into
// build/mirror.trap.wasm with the release build's options, once per run.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { RELEASE_WASM, REPO_ROOT } from "../../tools/paths.ts";

/** Relative to the repo root (Envoy's working directory in the tests). */
export const TRAP_WASM = "build/mirror.trap.wasm";

let built = false;

/** Compiles the trap module if it is missing or older than the filter's sources. */
export function buildTrapWasm(): string {
  if (built) return TRAP_WASM;
  const out = join(REPO_ROOT, TRAP_WASM);
  if (
    !existsSync(out) ||
    !existsSync(RELEASE_WASM) ||
    statSync(out).mtimeMs < statSync(RELEASE_WASM).mtimeMs
  ) {
    const r = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, "node_modules", "assemblyscript", "bin", "asc.js"),
        // Its own asconfig (the release options), not the repository's: asc would add the
        // repository's entry, and with it a second "mirror" root registration.
        "--config",
        "asconfig.json",
      ],
      { cwd: join(REPO_ROOT, "tests", "e2e", "trap"), encoding: "utf8" },
    );
    if (r.status !== 0)
      throw new Error(
        `asc tests/e2e/trap/index.ts failed:\n${r.stdout}${r.stderr}`,
      );
  }
  built = true;
  return TRAP_WASM;
}
