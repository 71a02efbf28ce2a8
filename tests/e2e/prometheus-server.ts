// A real Prometheus for the e2e tests: Debian's `prometheus` (installed by tools/provision/debian.ts when
// missing; under CI=true never skipped), started on loopback with a config written here — a
// short scrape interval, the TSDB in a temporary directory, the gates' rules loaded — scraping
// `/stats/prometheus` of the Envoys given. Prometheus cannot listen on port 0, so a free port is
// picked and the start retried on another one if it was taken meanwhile.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { toolOrSkip } from "../support/provision.ts";
import { instantQuery, type Sample } from "../../scripts/report/prometheus.ts";
import { freePort } from "../../tools/net.ts";
import { sleep, waitFor } from "../../tools/wait.ts";

/** Debian's prometheus, or why the Prometheus cases are skipped (never under CI=true). */
export const prometheusTool = toolOrSkip("prometheus");
/** promtool, from the same package. */
export const promtoolTool = prometheusTool.path
  ? toolOrSkip("promtool")
  : prometheusTool;

/** A target Prometheus scrapes: an Envoy admin port and the labels of its series. */
export interface ScrapeTarget {
  port: number;
  labels: Record<string, string>;
}

export interface PrometheusOptions {
  targets: ScrapeTarget[];
  /** rule files (absolute paths) */
  ruleFiles?: string[];
  /** [100ms] */
  scrapeInterval?: string;
  /** [1s] */
  evaluationInterval?: string;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

/** One running Prometheus. */
export class PrometheusServer {
  log = "";
  private exited = false;

  constructor(
    readonly url: string,
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.on("data", (d) => (this.log += d));
    child.stderr!.on("data", (d) => (this.log += d));
    child.on("exit", () => {
      this.exited = true;
      running.delete(child);
    });
  }

  get running(): boolean {
    return !this.exited;
  }

  /** An instant query at `time` [now]. */
  query(expr: string, time = new Date()): Promise<Sample[]> {
    return instantQuery(this.url, expr, time);
  }

  /** The single value of `expr` at `time`, or NaN when it has none. */
  async value(expr: string, time = new Date()): Promise<number> {
    const r = await this.query(expr, time);
    return r.length === 0 ? NaN : r[0].value;
  }

  /** Waits until every target has been scraped `n` more times (each scrape adds a sample to `up`). */
  async scrapes(n = 2): Promise<void> {
    const counts = async () =>
      new Map(
        (await this.query(`count_over_time(up{job="envoy"}[1h])`)).map((s) => [
          s.metric.instance,
          s.value,
        ]),
      );
    const start = await counts();
    await waitFor(
      `${n} more scrapes of every target`,
      async () => {
        const now = await counts();
        return [...start].every(([i, c]) => (now.get(i) ?? 0) >= c + n);
      },
      20_000,
    );
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.kill("SIGTERM");
    const killed = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await new Promise<void>((r) =>
      this.exited ? r() : this.child.once("exit", () => r()),
    );
    clearTimeout(killed);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts Prometheus on a free loopback port and waits until it is ready and scraping. */
export async function startPrometheus(
  o: PrometheusOptions,
): Promise<PrometheusServer> {
  const bin = prometheusTool.path;
  if (!bin) throw new Error(prometheusTool.skip);
  const interval = o.scrapeInterval ?? "100ms";
  const config = {
    global: {
      scrape_interval: interval,
      scrape_timeout: interval,
      evaluation_interval: o.evaluationInterval ?? "1s",
    },
    rule_files: o.ruleFiles ?? [],
    scrape_configs: [
      {
        job_name: "envoy",
        metrics_path: "/stats/prometheus",
        static_configs: o.targets.map((t) => ({
          targets: [`127.0.0.1:${t.port}`],
          labels: t.labels,
        })),
      },
    ],
  };
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "mirror-prometheus-"));
    writeFileSync(join(dir, "prometheus.yml"), stringify(config));
    const port = await freePort();
    const child = spawn(
      bin,
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    running.add(child);
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, dir, child);
    try {
      await waitFor(
        `Prometheus on 127.0.0.1:${port} to be ready`,
        async () => {
          if (!server.running)
            throw new Error(`prometheus exited:\n${server.log}`);
          const res = await fetch(`${server.url}/-/ready`).catch(
            () => undefined,
          );
          await res?.text();
          return res?.status === 200;
        },
        30_000,
      );
      await waitFor(
        "every Envoy to be scraped",
        async () =>
          (await server.value(`count(up{job="envoy"} == 1)`)) ===
          o.targets.length,
        20_000,
      );
      return server;
    } catch (err) {
      lastError = err;
      await server.stop();
      if (!/address already in use/.test(server.log)) break;
      await sleep(100);
    }
  }
  throw lastError;
}
