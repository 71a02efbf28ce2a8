// Builds tests/e2e/trap/index.ts (the filter plus a trap on `x-test-trap`) into
// build/mirror.trap.wasm with the release build's options, once per run.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/envoy.ts";

/** Relative to the repo root (Envoy's working directory in the tests). */
export const TRAP_WASM = "build/mirror.trap.wasm";

let built = false;

/** Compiles the trap module if it is missing or older than the filter's sources. */
export function buildTrapWasm(): string {
  if (built) return TRAP_WASM;
  const out = join(REPO_ROOT, TRAP_WASM);
  const release = join(REPO_ROOT, "build", "mirror.wasm");
  if (
    !existsSync(out) ||
    !existsSync(release) ||
    statSync(out).mtimeMs < statSync(release).mtimeMs
  ) {
    const r = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, "node_modules", "assemblyscript", "bin", "asc.js"),
        "tests/e2e/trap/index.ts",
        "--outFile",
        TRAP_WASM,
        "-O3",
        "--shrinkLevel",
        "1",
        "--runtime",
        "minimal",
        "--use",
        "abort=abort_proc_exit",
      ],
      { cwd: REPO_ROOT, encoding: "utf8" },
    );
    if (r.status !== 0)
      throw new Error(
        `asc tests/e2e/trap/index.ts failed:\n${r.stdout}${r.stderr}`,
      );
  }
  built = true;
  return TRAP_WASM;
}
