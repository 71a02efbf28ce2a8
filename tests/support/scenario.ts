/**
 * One e2e case: `scenario` runs it with a fresh Scope (its upstreams, Envoys, agents and sessions,
 * cleaned up in reverse order), asserts that no Envoy logged a filter error, registers what the
 * upstreams received for the suite's security check, and on failure prints every Envoy log and
 * upstream record.
 */
import type http from "node:http";
import type http2 from "node:http2";
import test, { type TestContext } from "node:test";
import { h2session, keepAliveAgent } from "./clients.ts";
import {
  Envoy,
  filterErrorLines,
  skipReason,
  spawnEnvoy,
  startEnvoy,
} from "./envoy.ts";
import {
  DARK_CLUSTER,
  type EnvoyOptions,
  LIVE_CLUSTER,
} from "./envoy-config.ts";
import {
  appendRegistry,
  CREDENTIAL_HEADERS,
  hasDefaultSafety,
  SAFE_METHODS,
  stripMarkerOf,
  summariseTraffic,
} from "./registry.ts";
import {
  type Behaviour,
  describeRecords,
  refusingUpstream,
  startUpstream,
  type Upstream,
} from "./upstream.ts";

const BASELINE = "kitchen-base";

/** Resources of one case, cleaned up in reverse order; dumped when the case fails. */
export class Scope {
  private cleanups: Array<() => Promise<void> | void> = [];
  readonly envoys: Envoy[] = [];
  readonly upstreams: Upstream[] = [];

  constructor(readonly t: TestContext) {}

  /** Registers a cleanup; cleanups run last-registered first. */
  defer(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  async upstream(name: string, behaviour: Behaviour = {}): Promise<Upstream> {
    const u = await startUpstream(name, behaviour);
    this.upstreams.push(u);
    this.defer(() => u.close());
    return u;
  }

  async refusing(name: string): Promise<Upstream> {
    const u = await refusingUpstream(name);
    this.upstreams.push(u);
    return u;
  }

  async envoy(o: EnvoyOptions): Promise<Envoy> {
    const label = o.name ?? `envoy${this.envoys.length + 1}`;
    const opts = { ...o, name: label };
    const e = await startEnvoy(opts);
    this.envoys.push(e);
    this.defer(() => e.stop());
    return e;
  }

  /**
   * The usual case: a live upstream `kitchen` and a dark one `kitchen-next`, each with its
   * behaviour, and an Envoy between them with options `o`.
   */
  async liveAndDark(
    o: Omit<EnvoyOptions, "live" | "dark"> = {},
    behaviours: { live?: Behaviour; dark?: Behaviour } = {},
  ): Promise<{ live: Upstream; dark: Upstream; envoy: Envoy }> {
    const live = await this.upstream(LIVE_CLUSTER, behaviours.live);
    const dark = await this.upstream(DARK_CLUSTER, behaviours.dark);
    const envoy = await this.envoy({ ...o, live, dark });
    return { live, dark, envoy };
  }

  /**
   * liveAndDark with a baseline: a second live instance `kitchen-base` as the baseline target
   * beside kitchen-next, bodies compared as JSON.
   */
  async withBaseline(
    behaviours: { live?: Behaviour; dark?: Behaviour; base?: Behaviour } = {},
  ): Promise<{ live: Upstream; dark: Upstream; base: Upstream; envoy: Envoy }> {
    const base = await this.upstream(BASELINE, behaviours.base);
    const { live, dark, envoy } = await this.liveAndDark(
      {
        plugin: {
          targets: [
            { cluster: DARK_CLUSTER, percentage: 100 },
            { cluster: BASELINE, percentage: 100, baseline: true },
          ],
          compare: { body: "json" },
        },
        clusters: { [BASELINE]: base.port },
      },
      behaviours,
    );
    return { live, dark, base, envoy };
  }

  /** Spawns an Envoy that is expected to refuse its config (tracked for dumps and cleanup). */
  spawnEnvoy(o: EnvoyOptions): Envoy {
    const e = spawnEnvoy({
      ...o,
      name: o.name ?? `envoy${this.envoys.length + 1}`,
    });
    this.envoys.push(e);
    this.defer(() => e.stop(1_000));
    return e;
  }

  /** A keep-alive agent destroyed at cleanup. */
  agent(maxSockets = 16): http.Agent {
    const a = keepAliveAgent(maxSockets);
    this.defer(() => a.destroy());
    return a;
  }

  async h2(port: number): Promise<http2.ClientHttp2Session> {
    const s = await h2session(port);
    this.defer(() => new Promise<void>((r) => s.close(() => r())));
    return s;
  }

  /** Asserts that no Envoy of this case logged a filter error or critical line (unless expected). */
  assertNoFilterErrors(): void {
    for (const e of this.envoys) {
      if (e.options.expectFilterErrors) continue;
      const bad = filterErrorLines(e.log);
      if (bad.length)
        throw new Error(
          `${e.name} logged ${bad.length} filter error/critical line(s):\n${bad.slice(0, 20).join("\n")}`,
        );
    }
  }

  /**
   * Registers what this case's upstreams received for the whole-suite security check: the dark
   * upstream of every Envoy whose plugins all keep the default safety rules (`dark-default`), and
   * the live upstream of every Envoy in edge mode (`strip-live`). An upstream that is also some
   * Envoy's live one, or the dark one of an Envoy with other rules, is left out.
   */
  recordTraffic(scenario: string): void {
    const file = process.argv[1] ?? "";
    const isUpstream = (u: unknown): u is Upstream =>
      typeof u === "object" && u !== null && "records" in u;
    const lives = new Set(this.envoys.map((e) => e.options.live));
    const darkOf = new Map<Upstream, Envoy[]>();
    for (const e of this.envoys) {
      const d = e.options.dark;
      if (!isUpstream(d)) continue;
      darkOf.set(d, [...(darkOf.get(d) ?? []), e]);
    }
    for (const [u, envoys] of darkOf) {
      if (lives.has(u)) continue;
      const withFilter = envoys.filter((e) => e.plugins.length > 0);
      if (
        withFilter.length === 0 ||
        !withFilter.every((e) => e.plugins.every(hasDefaultSafety))
      )
        continue;
      appendRegistry(
        "dark-default",
        summariseTraffic(
          u,
          {
            file,
            scenario,
            envoy: withFilter.map((e) => e.name).join("+"),
            upstream: u.name,
          },
          (r) =>
            !SAFE_METHODS.includes(r.method) ||
            CREDENTIAL_HEADERS.some((h) => h in r.headers),
        ),
      );
    }
    for (const e of this.envoys) {
      const live = e.options.live;
      const markers = e.plugins.map(stripMarkerOf);
      if (!isUpstream(live) || markers.length === 0 || !markers.every(Boolean))
        continue;
      if (new Set(markers).size !== 1) continue;
      const marker = markers[0]!;
      appendRegistry(
        "strip-live",
        summariseTraffic(
          live,
          { file, scenario, envoy: e.name, upstream: live.name, marker },
          (r) => marker in r.headers,
        ),
      );
    }
  }

  dump(): string {
    return [
      ...this.envoys.map((e) => e.describe()),
      ...this.upstreams.map((u) => describeRecords(u)),
    ].join("\n\n");
  }

  /** Runs every cleanup, last registered first, even when one fails; rethrows the first failure. */
  async cleanup(): Promise<void> {
    let first: unknown;
    for (const fn of this.cleanups.reverse())
      await Promise.resolve()
        .then(fn)
        .catch((err: unknown) => (first ??= err));
    this.cleanups = [];
    if (first !== undefined) throw first;
  }
}

/**
 * One e2e case: runs `fn` with a fresh Scope, asserts that the filter logged no error, prints every
 * Envoy log and upstream record on failure, and cleans up in reverse order.
 */
export function scenario(
  name: string,
  fn: (s: Scope) => Promise<void>,
  options: { timeout?: number } = {},
): void {
  test(
    name,
    { skip: skipReason, timeout: options.timeout ?? 120_000 },
    async (t) => {
      const s = new Scope(t);
      let failure: unknown;
      try {
        await fn(s);
      } catch (err) {
        failure = err;
      }
      // Stop everything first so each Envoy's log is complete (shutdown included), then check it.
      try {
        await s.cleanup();
        if (failure === undefined) s.assertNoFilterErrors();
      } catch (err) {
        failure ??= err;
      }
      try {
        s.recordTraffic(name);
      } catch (err) {
        failure ??= err;
      }
      if (failure !== undefined) {
        process.stderr.write(
          `\n===== ${name}: FAILED — Envoy logs and upstream records (configs kept) =====\n${s.dump()}\n===== end of ${name} =====\n`,
        );
        throw failure;
      }
      for (const e of s.envoys) e.removeDir();
    },
  );
}
