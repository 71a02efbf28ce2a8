/**
 * Builds the filter when a command or the benchmark needs build/mirror.wasm and it is missing or
 * older than its sources, so that commands parse their arguments (and answer --help) before any
 * build, and build only when they must. `npm run build` is the build itself.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { RELEASE_WASM, RELEASE_WASM_PATH, REPO_ROOT } from "./paths.ts";

/** What the build reads: the filter's sources, the compiler config, the lock file (the SDK's version). */
function sources(): string[] {
  const inDir = (dir: string) =>
    existsSync(join(REPO_ROOT, dir))
      ? readdirSync(join(REPO_ROOT, dir)).map((f) => join(REPO_ROOT, dir, f))
      : [];
  return [
    ...inDir("assembly"),
    join(REPO_ROOT, "asconfig.json"),
    join(REPO_ROOT, "package-lock.json"),
  ].filter((f) => existsSync(f));
}

/** Why build/mirror.wasm must be (re)built, or undefined when it is up to date. */
export function staleReason(): string | undefined {
  if (!existsSync(RELEASE_WASM)) return `${RELEASE_WASM_PATH} is missing`;
  const built = statSync(RELEASE_WASM).mtimeMs;
  const newer = sources().find((f) => statSync(f).mtimeMs > built);
  return newer
    ? `${newer.slice(REPO_ROOT.length + 1)} is newer than ${RELEASE_WASM_PATH}`
    : undefined;
}

/**
 * Runs `npm run build` when build/mirror.wasm is missing or stale (its output on stderr, so that
 * a command's stdout stays its own); throws if the build fails. Returns whether it built.
 */
export function ensureBuild(): boolean {
  const why = staleReason();
  if (!why) return false;
  process.stderr.write(`build: ${why}; building the filter (npm run build)…\n`);
  const r = spawnSync("npm", ["run", "--silent", "build"], {
    cwd: REPO_ROOT,
    stdio: ["ignore", 2, 2],
  });
  if (r.error || r.status !== 0)
    throw new Error(
      `npm run build failed (${r.error?.message ?? `exit ${r.status}`})`,
    );
  return true;
}
