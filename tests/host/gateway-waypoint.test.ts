// Which cluster names an Istio ambient waypoint has for a mirror backend, from Istio's own config
// generation: the Go test in tests/istio-waypoint runs istiod's xDS generation (Istio's fake
// discovery server, the release-1.31 istio.io/istio the project pins, from the Go module proxy,
// verified by go.sum) for a waypoint over the Services, the HTTPRoute and the WasmPlugin that
// `npm run gateway --implementation istio-waypoint` renders, and reports the waypoint's clusters,
// its routes' mirror policies and its HTTP filters. The rendering's `clusters` lists must name
// a cluster the waypoint has — `inbound-vip|PORT|http|FQDN` for a dark Service the waypoint
// serves, `outbound|PORT||FQDN` for one it does not — the route's mirrors at percent 0 must leave
// no native mirror, and the WasmPlugin must reach the waypoint.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { ISTIO } from "../support/istio-bootstrap.ts";
import { renderAttachment } from "../../scripts/gateway/render.ts";
import {
  pluginConfig,
  routeWithNativeMirrorsOff,
  translateRoute,
} from "../../scripts/gateway/translate.ts";

const GO_TEST = fileURLToPath(new URL("../istio-waypoint/", import.meta.url));

const go = spawnSync("go", ["version"], { encoding: "utf8" });
const skip =
  go.status === 0 || process.env.CI
    ? undefined
    : "Go is not installed here (under CI this test runs and fails without it)";

/** A Service in `default` on port `port`, served by the waypoint when `waypoint`. */
const service = (
  name: string,
  ip: string,
  port: number,
  waypoint: boolean,
) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: {
    name,
    namespace: "default",
    ...(waypoint ? { labels: { "istio.io/use-waypoint": "waypoint" } } : {}),
  },
  spec: {
    clusterIP: ip,
    ports: [{ name: "http", port }],
    selector: { app: name },
  },
});

/** The waypoint of `default`, as Istio's own waypoint tests declare one (a Pod at 3.0.0.1). */
const WAYPOINT = [
  {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "waypoint", namespace: "default" },
    spec: {
      gatewayClassName: "istio-waypoint",
      listeners: [{ name: "mesh", port: 15008, protocol: "HBONE" }],
    },
    status: {
      addresses: [
        { type: "Hostname", value: "waypoint.default.svc.cluster.local" },
      ],
    },
  },
  {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "waypoint",
      namespace: "default",
      labels: {
        "gateway.istio.io/managed": "istio.io-mesh-controller",
        "gateway.networking.k8s.io/gateway-name": "waypoint",
        "istio.io/gateway-name": "waypoint",
      },
    },
    spec: {
      clusterIP: "3.0.0.0",
      ports: [{ appProtocol: "hbone", name: "mesh", port: 15008 }],
      selector: { "gateway.networking.k8s.io/gateway-name": "waypoint" },
    },
  },
  {
    apiVersion: "networking.istio.io/v1",
    kind: "WorkloadEntry",
    metadata: { name: "waypoint-a", namespace: "default" },
    spec: {
      address: "3.0.0.1",
      labels: { "gateway.networking.k8s.io/gateway-name": "waypoint" },
    },
  },
];

/** The live kitchen's mesh route: a copy to kitchen-next (same waypoint) and to pantry-next (none). */
const ROUTE = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: "kitchen", namespace: "default" },
  spec: {
    parentRefs: [{ group: "", kind: "Service", name: "kitchen", port: 8080 }],
    rules: [
      {
        backendRefs: [{ name: "kitchen", port: 8080 }],
        filters: [
          {
            type: "RequestMirror",
            requestMirror: {
              backendRef: { name: "kitchen-next", port: 8080 },
              percent: 10,
            },
          },
          {
            type: "RequestMirror",
            requestMirror: {
              backendRef: { name: "pantry-next", port: 9090 },
              fraction: { numerator: 1, denominator: 4 },
            },
          },
        ],
      },
    ],
  },
};

it("go.mod requires the istio.io/istio the project pins", () => {
  const mod = readFileSync(join(GO_TEST, "go.mod"), "utf8");
  assert.match(
    mod,
    new RegExp(`^\\s*(require )?istio\\.io/istio ${ISTIO.version}$`, "m"),
  );
});

it(
  "an ambient waypoint has a cluster of each target's clusters list, no native mirror at percent 0, and the WasmPlugin's filter",
  { skip, timeout: 45 * 60_000 },
  async () => {
    const options = {
      implementation: "istio-waypoint" as const,
      module: {
        kind: "image" as const,
        url: "registry.example.com/proxy-wasm-mirror:0.1.0",
      },
    };
    const t = translateRoute(ROUTE, options);
    const plugin = pluginConfig(t);
    const services = [
      service("kitchen", "10.0.0.10", 8080, true),
      service("kitchen-next", "10.0.0.11", 8080, true),
      service("pantry-next", "10.0.0.12", 9090, false),
    ];
    const dir = mkdtempSync(join(tmpdir(), "mirror-waypoint-"));
    const write = (file: string, docs: object[]) =>
      writeFileSync(
        join(dir, file),
        docs.map((d) => stringify(d)).join("---\n"),
      );
    write("rendered.yaml", [
      ...WAYPOINT,
      ...services,
      routeWithNativeMirrorsOff(ROUTE, t),
      renderAttachment(ROUTE, t, plugin, options),
    ]);
    write("native.yaml", [...WAYPOINT, ...services, ROUTE]);
    const out = join(dir, "generated.json");
    // Asynchronously, so that the test's timeout holds while Go builds istiod's packages.
    const run = await new Promise<{ code: number | null; output: string }>(
      (done) => {
        let output = "";
        const child = spawn(
          "go",
          ["test", "-count=1", "-run", "TestWaypointConfig", "."],
          {
            cwd: GO_TEST,
            env: {
              ...process.env,
              // istiod's ambient switch, as its ambient profile sets it.
              PILOT_ENABLE_AMBIENT: "true",
              WAYPOINT_IN: dir,
              WAYPOINT_OUT: out,
            },
          },
        );
        const keep = (d: Buffer) => (output = (output + d).slice(-8000));
        child.stdout.on("data", keep);
        child.stderr.on("data", keep);
        child.on("close", (code) => done({ code, output }));
      },
    );
    assert.equal(run.code, 0, `go test failed:\n${run.output}`);
    const generated = JSON.parse(readFileSync(out, "utf8"));
    const rendered = generated["rendered.yaml"];
    const [next, pantry] = t.mirrors.map((m) => m.target.clusters as string[]);
    assert.deepEqual(next, [
      "inbound-vip|8080|http|kitchen-next.default.svc.cluster.local",
      "outbound|8080||kitchen-next.default.svc.cluster.local",
    ]);
    const has = (name: string) => rendered.clusters.includes(name);
    // A dark Service the waypoint serves: its inbound-vip cluster, the first name tried.
    assert.ok(
      has(next[0]),
      `${next[0]} not in ${rendered.clusters.join(", ")}`,
    );
    assert.ok(!has(next[1]));
    // One it does not serve: the outbound cluster the route's (zero-percent) mirror gives it.
    assert.ok(!has(pantry[0]));
    assert.ok(
      has(pantry[1]),
      `${pantry[1]} not in ${rendered.clusters.join(", ")}`,
    );
    // The zero-percent mirrors: no native copy at all.
    assert.deepEqual(rendered.mirrors, {});
    // The WasmPlugin (targetRefs: the kitchen Service) reaches the waypoint.
    assert.ok(
      rendered.httpFilters.some((f: string) =>
        f.includes("default.kitchen-mirror"),
      ),
      rendered.httpFilters.join(", "),
    );
    // The control: the route as written mirrors natively, 10 % and 25 % in parts per million.
    const native = Object.values(generated["native.yaml"].mirrors).flat();
    assert.deepEqual(
      native.map((m: any) => [m.cluster, m.numerator, m.denominator]).sort(),
      [
        [next[0], 100000, "MILLION"],
        [pantry[1], 250000, "MILLION"],
      ],
    );
  },
);
