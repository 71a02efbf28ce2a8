// Provisions command-line tools that come from Debian's packages (skopeo, prometheus/promtool):
// a tool already on PATH is used as is; else, as root on a Debian/Ubuntu machine, the package is
// installed with apt-get (as scripts/envoy.ts installs Envoy into .venv); else a clear message.
// `node --import tsx scripts/debian.ts skopeo prometheus` provisions from the command line.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The tools the project uses from Debian, by command → package. */
export const DEBIAN_TOOLS: Record<string, string> = {
  skopeo: "skopeo",
  prometheus: "prometheus",
  promtool: "prometheus",
};

/** The tool is missing and cannot be installed here (not root, no apt-get, or apt-get failed). */
export class ToolSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolSetupError";
  }
}

/** The absolute path of `name` on PATH, or undefined. */
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

let updated = false;

function apt(args: string[]): { ok: boolean; output: string } {
  const r = spawnSync("apt-get", args, {
    encoding: "utf8",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    timeout: 600_000,
  });
  return {
    ok: !r.error && r.status === 0,
    output:
      `${r.error?.message ?? ""}${r.stdout ?? ""}${r.stderr ?? ""}`.trim(),
  };
}

/**
 * The path of command `name` (a key of DEBIAN_TOOLS), installing its Debian package first when it
 * is missing and this process may (root, apt-get present). Throws ToolSetupError otherwise.
 */
export function ensureTool(name: string): string {
  const found = onPath(name);
  if (found) return found;
  const pkg = DEBIAN_TOOLS[name];
  if (!pkg)
    throw new ToolSetupError(`${name}: not a tool this project installs`);
  const hint = `install Debian's ${pkg} package (apt-get install ${pkg}) or put ${name} on PATH`;
  if (process.getuid?.() !== 0)
    throw new ToolSetupError(
      `${name} is not installed and this is not root: ${hint}`,
    );
  if (!onPath("apt-get"))
    throw new ToolSetupError(
      `${name} is not installed and there is no apt-get: ${hint}`,
    );
  process.stderr.write(
    `provision: installing ${pkg} with apt-get (one time) ...\n`,
  );
  if (!updated) {
    const up = apt(["update", "-qq"]);
    if (!up.ok) throw new ToolSetupError(`apt-get update failed: ${up.output}`);
    updated = true;
  }
  const inst = apt(["install", "-y", "-qq", "--no-install-recommends", pkg]);
  if (!inst.ok)
    throw new ToolSetupError(`apt-get install ${pkg} failed: ${inst.output}`);
  const path = onPath(name);
  if (!path)
    throw new ToolSetupError(
      `apt-get installed ${pkg} but ${name} is still not on PATH`,
    );
  return path;
}

/**
 * For tests: the tool's path, or a reason to skip. Under CI=true a missing tool that cannot be
 * installed is an error, never a skip.
 */
export function toolOrSkip(name: string): { path?: string; skip?: string } {
  try {
    return { path: ensureTool(name) };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (process.env.CI === "true")
      throw new Error(`CI=true and ${name} could not be provisioned: ${why}`);
    process.stderr.write(`SKIPPED: ${why}\n`);
    return { skip: why };
  }
}

if (
  process.argv[1] &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  const names = process.argv.slice(2);
  if (names.length === 0 || names.includes("--help")) {
    console.log(
      `usage: node --import tsx scripts/debian.ts TOOL...\n` +
        `Installs what is missing of: ${Object.keys(DEBIAN_TOOLS).join(", ")} (Debian packages, as root).`,
    );
    process.exit(names.length === 0 ? 4 : 0);
  }
  try {
    for (const n of names) console.log(`${n}: ${ensureTool(n)}`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(3);
  }
}
