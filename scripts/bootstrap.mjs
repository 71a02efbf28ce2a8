// First step of `npm start` and `npm test`: installs the npm packages when they
// are missing or older than package-lock.json, so that a fresh clone needs
// nothing run before. Plain Node, no dependencies (nothing is installed yet).
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
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
  const r = spawnSync("npm", [cmd, "--no-audit", "--no-fund"], {
    cwd: root,
    stdio: "inherit",
  });
  if (r.error || r.status !== 0) {
    process.stderr.write(
      `bootstrap: npm ${cmd} failed (${r.error?.message ?? `exit ${r.status}`}); ` +
        "check your network access to the npm registry and Node >= 20.\n",
    );
    process.exit(r.status || 1);
  }
}
