// First step of every npm script: installs the npm packages when they are missing or older than
// package-lock.json, so that a fresh clone needs nothing run before. Plain Node, no dependencies
// (nothing is installed yet).
//
//   node scripts/bootstrap.mjs                      install if needed, nothing else
//   node scripts/bootstrap.mjs SCRIPT.ts [ARGS...]  then run `node --import tsx SCRIPT.ts ARGS...`
//
// The script parses its own arguments (and answers --help) before it builds anything; the ones
// that need build/mirror.wasm build it then, only if it is missing or stale (tools/build.ts).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const lock = join(root, "package-lock.json");
const installed = join(root, "node_modules", ".package-lock.json");
const needed = ["assemblyscript", "tsx", "@solo-io/proxy-runtime"];

function upToDate() {
  if (!existsSync(installed)) return false;
  if (!needed.every((p) => existsSync(join(root, "node_modules", p))))
    return false;
  return statSync(installed).mtimeMs >= statSync(lock).mtimeMs;
}

if (!upToDate()) {
  const cmd = existsSync(lock) ? "ci" : "install";
  process.stderr.write(`bootstrap: installing npm packages (npm ${cmd})…\n`);
  // The npm that runs this script (npm_execpath): under `npm run`, PATH starts with
  // node_modules/.bin, where a dependency's own old npm (6.x, via @as-pect/cli) cannot read this
  // lock file and would leave node_modules empty.
  const viaNpm = /npm-cli\.js$/.test(process.env.npm_execpath ?? "");
  const r = spawnSync(
    viaNpm ? process.execPath : "npm",
    [
      ...(viaNpm ? [process.env.npm_execpath] : []),
      cmd,
      "--no-audit",
      "--no-fund",
    ],
    { cwd: root, stdio: ["ignore", 2, 2] },
  );
  if (r.error || r.status !== 0) {
    process.stderr.write(
      `bootstrap: npm ${cmd} failed (${r.error?.message ?? `exit ${r.status}`}); ` +
        "check your network access to the npm registry and Node >= 20.\n",
    );
    process.exit(r.status || 1);
  }
}

const [script, ...args] = process.argv.slice(2);
if (script) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", resolve(root, script), ...args],
    {
      stdio: "inherit",
      // Scripts run in the repository root, as npm runs them; paths the user gives are taken
      // relative to where they were (INIT_CWD, which npm sets too).
      cwd: root,
      env: { ...process.env, INIT_CWD: process.env.INIT_CWD ?? process.cwd() },
    },
  );
  // Ctrl-C reaches the whole process group: the script handles it; this launcher only waits.
  // A SIGTERM sent to the launcher alone is passed on.
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => child.kill("SIGTERM"));
  child.on("exit", (code, signal) =>
    process.exit(code ?? 128 + (constants.signals[signal] ?? 0)),
  );
}
