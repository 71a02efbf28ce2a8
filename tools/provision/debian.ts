/**
 * Command-line tools that come from Debian's packages (skopeo, prometheus/promtool for the tests;
 * wrk, a C compiler and perf for the benchmark): a tool already on PATH is used as is; else, as
 * root on a Debian/Ubuntu machine, its package is installed with apt-get (as envoy.ts installs
 * Envoy into .venv); else a clear message.
 */
import { spawnSync } from "node:child_process";
import { onPath } from "../paths.ts";

/** The tools the project uses from Debian, by command → package. */
export const DEBIAN_TOOLS: Record<string, string> = {
  skopeo: "skopeo",
  prometheus: "prometheus",
  promtool: "prometheus",
  wrk: "wrk",
  cc: "gcc",
  perf: "linux-perf",
};

/** The tool is missing and cannot be installed here (not root, no apt-get, or apt-get failed). */
export class ToolSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolSetupError";
  }
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
