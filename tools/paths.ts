/**
 * Where things are: the repository and its files, the release module, the cache of what is fetched on first
 * use, a command on PATH, and paths as a user typed them or should read them.
 */
import { accessSync, constants, readFileSync } from "node:fs";
import {
  delimiter,
  dirname,
  isAbsolute,
  join,
  relative,
  resolve,
} from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file lives in `tools/`). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** A file of the repository (`path` relative to its root), as text. */
export const repoText = (path: string): string =>
  readFileSync(join(REPO_ROOT, path), "utf8");

/** The release module as Envoy configs name it: relative to the repository root. */
export const RELEASE_WASM_PATH = "build/mirror.wasm";

/** The release module every command, benchmark and test loads. */
export const RELEASE_WASM = join(REPO_ROOT, RELEASE_WASM_PATH);

/** What is fetched once and kept (Go module zips), under node_modules so a clean install drops it. */
export const CACHE_DIR = join(
  REPO_ROOT,
  "node_modules",
  ".cache",
  "proxy-wasm-mirror",
);

/** The absolute path of command `name` on PATH, or undefined. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * A path a user typed, resolved against the directory they ran npm in (npm runs scripts in the
 * package root and keeps the caller's directory in INIT_CWD).
 */
export function userPath(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

/** How to show `path` to the user: relative to where they are when it is below it. */
export function shownPath(path: string): string {
  const rel = relative(process.env.INIT_CWD ?? process.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}
