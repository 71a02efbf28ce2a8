/**
 * Envoy processes, started the one way this project starts Envoy (the demo, the benchmark and the
 * tests): the bootstrap written to a temporary directory, a fixed number of workers, hot restart
 * off, warn-level logs (and a component's level when asked, e.g. the filter's `wasm:info`), the
 * admin address written to a file so that port 0 works, ready once /ready answers 200. Its log is
 * captured; every Envoy still running when this process exits is killed, so a failed run leaks
 * none.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../paths.ts";
import { sleep } from "../wait.ts";

/** How to start one Envoy. */
export interface EnvoyLaunch {
  /** The Envoy binary (tools/provision/envoy.ts finds or installs it). */
  bin: string;
  /** Label in logs and errors. */
  name: string;
  /** The bootstrap: an object, or YAML or JSON text. */
  config: object | string;
  /** Worker threads (`--concurrency`). */
  concurrency: number;
  /** `--component-log-level`, e.g. "wasm:info" for the filter's own log lines. */
  componentLogLevel?: string;
  /** `--drain-time-s`: how long a replaced listener drains [Envoy's 600]. */
  drainTimeS?: number;
  /** Pin the process to this CPU (taskset). */
  cpu?: number;
  /** The directory of the bootstrap, when the caller wrote other files there (an LDS file). */
  dir?: string;
}

/** Every Envoy this process started: killed on exit. */
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** The arguments Envoy is started with, for a bootstrap at `configPath`. */
export function envoyArgs(
  o: Omit<EnvoyLaunch, "bin" | "name" | "config">,
  configPath: string,
  adminAddressPath: string,
): string[] {
  return [
    "-c",
    configPath,
    "--concurrency",
    String(o.concurrency),
    ...(o.drainTimeS !== undefined
      ? ["--drain-time-s", String(o.drainTimeS)]
      : []),
    "--disable-hot-restart",
    "--log-level",
    "warn",
    ...(o.componentLogLevel
      ? ["--component-log-level", o.componentLogLevel]
      : []),
    "--admin-address-path",
    adminAddressPath,
  ];
}

/** One Envoy process, spawned on construction; `ready()` waits for it. */
export class EnvoyProcess {
  /** Everything it wrote to stdout and stderr. */
  log = "";
  /** undefined while running; then its exit code (-1 when killed by a signal). */
  exitCode: number | null | undefined;
  adminPort = 0;
  readonly name: string;
  readonly dir: string;
  readonly configPath: string;
  private readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;

  constructor(readonly launch: EnvoyLaunch) {
    this.name = launch.name;
    this.dir = launch.dir ?? mkdtempSync(join(tmpdir(), "mirror-envoy-"));
    // JSON for an object, YAML (which JSON text is too) for text: Envoy reads by extension.
    this.configPath = join(
      this.dir,
      typeof launch.config === "string" ? "envoy.yaml" : "envoy.json",
    );
    writeFileSync(
      this.configPath,
      typeof launch.config === "string"
        ? launch.config
        : JSON.stringify(launch.config, null, 2),
    );
    const args = envoyArgs(
      launch,
      this.configPath,
      join(this.dir, "admin-address"),
    );
    // taskset and the PyPI wrapper both exec: the pid is Envoy's own.
    const [cmd, argv] =
      launch.cpu === undefined
        ? [launch.bin, args]
        : ["taskset", ["-c", String(launch.cpu), launch.bin, ...args]];
    this.child = spawn(cmd, argv, {
      // Paths in the shipped configs (build/mirror.wasm) are relative to the repository root.
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(this.child);
    this.child.stdout!.on("data", (d) => (this.log += d));
    this.child.stderr!.on("data", (d) => (this.log += d));
    this.exited = new Promise((r) =>
      this.child.on("exit", (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        children.delete(this.child);
        r();
      }),
    );
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The Envoy process id. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  /**
   * Waits until the admin API answers /ready with 200 (its address read back from the file Envoy
   * writes) and the process is Envoy itself, not the wrapper that execs it; throws if Envoy exits
   * or `timeoutMs` passes first.
   */
  async ready(timeoutMs = 30_000): Promise<this> {
    const deadline = Date.now() + timeoutMs;
    const addressFile = join(this.dir, "admin-address");
    for (;;) {
      if (!this.running)
        throw new Error(`envoy ${this.name} exited with ${this.exitCode}`);
      if (Date.now() > deadline)
        throw new Error(
          `envoy ${this.name} not ready in ${timeoutMs / 1000} s`,
        );
      if (!this.adminPort && existsSync(addressFile)) {
        const a = readFileSync(addressFile, "utf8").trim();
        if (a) this.adminPort = Number(a.split(":").pop());
      }
      if (this.adminPort) {
        const ok = await fetch(`http://127.0.0.1:${this.adminPort}/ready`)
          .then(async (r) => (await r.text(), r.status === 200))
          .catch(() => false);
        if (ok) break;
      }
      await sleep(20);
    }
    const cmdline = () => {
      try {
        return readFileSync(`/proc/${this.pid}/cmdline`, "utf8");
      } catch {
        return ""; // exited meanwhile: the next call says so
      }
    };
    while (this.running && !cmdline().includes("-c")) await sleep(20);
    return this;
  }

  /** GET (or POST) on the admin API; returns the body text. */
  async admin(path: string, method = "GET"): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}${path}`, {
      method,
    });
    const text = await res.text();
    if (!res.ok)
      throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
    return text;
  }

  /** Counters and gauges (`/stats`, text form), those whose name matches `filter` if given. */
  async stats(filter?: string): Promise<Map<string, number>> {
    const q = filter ? `?filter=${encodeURIComponent(filter)}` : "";
    const out = new Map<string, number>();
    for (const line of (await this.admin(`/stats${q}`)).split("\n")) {
      const m = /^(\S+): (\d+)$/.exec(line);
      if (m) out.set(m[1], Number(m[2]));
    }
    return out;
  }

  /** The port the listener `name` (the first listener, without a name) is bound to. */
  async portOf(name?: string): Promise<number> {
    const json = JSON.parse(await this.admin("/listeners?format=json")) as {
      listener_statuses: Array<{
        name: string;
        local_address: { socket_address: { port_value: number } };
      }>;
    };
    const l =
      name === undefined
        ? json.listener_statuses[0]
        : json.listener_statuses.find((s) => s.name === name);
    if (!l) throw new Error(`envoy ${this.name}: no listener ${name ?? ""}`);
    return l.local_address.socket_address.port_value;
  }

  /** POST /quitquitquit, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    await this.admin("/quitquitquit", "POST").catch(() => undefined);
    const killed = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(killed);
  }

  /** Waits for the process to exit on its own (e.g. a refused config); SIGKILL after `timeoutMs`. */
  async waitForExit(timeoutMs = 20_000): Promise<number | null> {
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return this.exitCode ?? null;
  }

  /** Removes the bootstrap's directory. */
  removeDir(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts Envoy and waits until it is ready (`EnvoyProcess.ready`); if it is not, stops it and
 * throws with its log.
 */
export async function startEnvoy(launch: EnvoyLaunch): Promise<EnvoyProcess> {
  const envoy = new EnvoyProcess(launch);
  try {
    return await envoy.ready();
  } catch (err) {
    await envoy.stop(1_000);
    (err as Error).message += `:\n${envoy.log}`;
    throw err;
  }
}

/** `envoy --mode validate -c file`: the exit code and output. */
export function validateEnvoyConfig(
  bin: string,
  file: string,
  componentLogLevel?: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    let output = "";
    const child = spawn(
      bin,
      [
        "--mode",
        "validate",
        "-c",
        file,
        "--log-level",
        "warn",
        ...(componentLogLevel
          ? ["--component-log-level", componentLogLevel]
          : []),
      ],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("close", (code) => done({ code, output }));
  });
}
