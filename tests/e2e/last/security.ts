// The suite's last step, run by tests/e2e/run.ts after every other file: security across the
// whole e2e run, then its fault table. Every case registered what its dark upstream received under
// the default safety rules (no `methods`, `unsafe_paths` or `headers` set) and what its live
// upstream received in edge mode (`marker.inbound: "strip"`); here no unsafe method and no
// credential header may appear in the former, and no client-supplied marker in the latter. Two
// cases of its own make sure both registries are never empty. Then the fault table of the run:
// fault → live OK / total, dark outcomes, VM failures, peak Wasm memory (summed over the Envoy's
// VMs) where measured.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import test from "node:test";
import {
  CREDENTIAL_HEADERS,
  CREDENTIALS,
  readRegistry,
  RUN_DIR,
  SAFE_METHODS,
  type TrafficEntry,
} from "../../support/registry.ts";
import { DARK_CLUSTER } from "../../support/envoy-config.ts";
import { h2request, request } from "../../support/clients.ts";
import { scenario } from "../../support/scenario.ts";
import { skipReason } from "../../support/envoy.ts";
import { statName } from "../../support/stat-names.ts";
import type { FaultRow } from "../traffic.ts";

scenario(
  "default config: no unsafe method and no credential header reaches dark (HTTP/1.1 and HTTP/2)",
  async (s) => {
    const { live, dark, envoy } = await s.liveAndDark({
      forwardClientCert: true,
      plugin: { targets: [{ cluster: DARK_CLUSTER, percentage: 100 }] },
    });
    const methods = [
      "GET",
      "HEAD",
      "OPTIONS",
      "POST",
      "PUT",
      "PATCH",
      "DELETE",
      "CONNECT-ISH",
      "TRACE",
    ];
    const h2 = await s.h2(envoy.listenerPort);
    let sent = 0;
    for (const method of methods.filter((m) => m !== "CONNECT-ISH")) {
      const body = ["POST", "PUT", "PATCH"].includes(method) ? "{}" : undefined;
      const r1 = await request(envoy.listenerPort, {
        method,
        path: `/orders/h1-${method}`,
        headers: { "x-request-id": `h1-${method}`, ...CREDENTIALS },
        body,
      });
      const r2 = await h2request(h2, {
        method,
        path: `/orders/h2-${method}`,
        headers: { "x-request-id": `h2-${method}`, ...CREDENTIALS },
        body: body ? Buffer.from(body) : undefined,
      });
      assert.ok(
        r1.status < 500 && r2.status < 500,
        `${method}: ${r1.status} ${r2.status}`,
      );
      sent += 2;
    }
    await envoy.waitForCounter("dark.2xx", 6);
    const c = await envoy.targetCounters();
    assert.equal(c.copies, 6);
    assert.equal(c["skipped.method"], sent - 6);
    assert.deepEqual(dark.records.map((r) => r.method).sort(), [
      "GET",
      "GET",
      "HEAD",
      "HEAD",
      "OPTIONS",
      "OPTIONS",
    ]);
    for (const r of dark.records)
      for (const h of CREDENTIAL_HEADERS)
        assert.equal(
          r.headers[h],
          undefined,
          `${h} reached dark on ${r.method} ${r.path}`,
        );
    // Live got every credential, untouched.
    for (const r of live.records.filter((r) => r.method === "GET"))
      for (const [h, v] of Object.entries(CREDENTIALS))
        assert.equal(r.headers[h], v, h);
  },
);

scenario(
  'edge mode (marker.inbound "strip"): a client-supplied marker never reaches live, in any form',
  async (s) => {
    for (const [name, marker] of [
      ["x-shadow", undefined],
      ["x-dark-copy", { header: "x-dark-copy", value: "yes" }],
    ] as const) {
      const live = await s.upstream(`kitchen-${name}`);
      const dark = await s.upstream(`kitchen-next-${name}`);
      const envoy = await s.envoy({
        name: `strip-${name}`,
        live,
        dark,
        plugin: {
          targets: [{ cluster: DARK_CLUSTER, percentage: 100 }],
          marker: { ...marker, inbound: "strip" },
        },
      });
      const value = marker?.value ?? "true";
      const forms: Array<Record<string, string | string[]>> = [
        { [name]: value },
        { [name.toUpperCase()]: value },
        { [name]: "false" },
        { [name]: [value, value] },
        { [name]: ["nope", value] },
      ];
      const h2 = await s.h2(envoy.listenerPort);
      for (const [i, form] of forms.entries()) {
        const r1 = await request(envoy.listenerPort, {
          path: `/menu/${name}-${i}`,
          headers: { "x-request-id": `h1-${name}-${i}`, ...form },
        });
        assert.equal(r1.status, 200);
        const h2form = Object.fromEntries(
          Object.entries(form).map(([k, v]) => [
            k.toLowerCase(),
            Array.isArray(v) ? v.join(", ") : v,
          ]),
        );
        const r2 = await h2request(h2, {
          path: `/menu/${name}-${i}`,
          headers: { "x-request-id": `h2-${name}-${i}`, ...h2form },
        });
        assert.equal(r2.status, 200);
      }
      await envoy.waitForCounter("dark.2xx", 2 * forms.length);
      assert.equal(live.records.length, 2 * forms.length);
      for (const r of live.records)
        assert.equal(
          r.headers[name],
          undefined,
          `${name} reached live: ${JSON.stringify(r.rawHeaders)}`,
        );
      // Stripped, then considered normally: every request mirrored, the copy marked once.
      assert.equal(dark.records.length, 2 * forms.length);
      for (const r of dark.records) {
        const values = r.rawHeaders.filter(
          (_, i) => i % 2 === 0 && r.rawHeaders[i].toLowerCase() === name,
        );
        assert.equal(
          values.length,
          1,
          `${r.path}: ${values.length} markers on the copy`,
        );
        assert.equal(r.headers[name], value);
      }
    }
  },
);

test(
  "whole suite: under the default safety rules no unsafe method and no credential header reached any dark upstream",
  { skip: skipReason },
  (t) => {
    const entries = readRegistry<TrafficEntry>("dark-default");
    const records = entries.reduce((a, e) => a + e.records, 0);
    const files = new Set(entries.map((e) => e.file.split("/").pop()));
    const methods: Record<string, number> = {};
    for (const e of entries)
      for (const [m, n] of Object.entries(e.methods))
        methods[m] = (methods[m] ?? 0) + n;
    t.diagnostic(
      `${records} dark requests from ${entries.length} cases in ${files.size} files (${[...files].sort().join(", ")}): ${JSON.stringify(methods)} — registry ${RUN_DIR}`,
    );
    assert.ok(records > 0, "no dark traffic was registered");
    const unsafe = entries.filter((e) =>
      Object.keys(e.methods).some((m) => !SAFE_METHODS.includes(m)),
    );
    const leaked = entries.filter((e) =>
      CREDENTIAL_HEADERS.some((h) => e.headers[h]),
    );
    const describe = (es: TrafficEntry[]) =>
      es.map(
        (e) =>
          `${e.file.split("/").pop()} — ${e.scenario} (${e.envoy} → ${e.upstream}): methods ${JSON.stringify(e.methods)}, e.g. ${JSON.stringify(e.suspects.slice(0, 2))}`,
      );
    assert.deepEqual(
      describe(unsafe),
      [],
      "unsafe methods reached dark under the default config",
    );
    assert.deepEqual(
      describe(leaked),
      [],
      "credential headers reached dark under the default config",
    );
  },
);

test(
  'whole suite: in edge mode ("strip") no client-supplied marker reached any live upstream',
  { skip: skipReason },
  (t) => {
    const entries = readRegistry<TrafficEntry>("strip-live");
    const records = entries.reduce((a, e) => a + e.records, 0);
    t.diagnostic(
      `${records} live requests from ${entries.length} strip-mode Envoys`,
    );
    assert.ok(records > 0, "no strip-mode live traffic was registered");
    const leaked = entries.filter((e) => e.marker && e.headers[e.marker]);
    assert.deepEqual(
      leaked.map(
        (e) =>
          `${e.file.split("/").pop()} — ${e.scenario}: ${e.marker} on ${e.headers[e.marker!]} live requests, e.g. ${JSON.stringify(e.suspects.slice(0, 2))}`,
      ),
      [],
    );
  },
);

test(
  "the run's fault table: every live request OK, 0 VM failures",
  { skip: skipReason },
  (t) => {
    const rows = readRegistry<FaultRow>("faults");
    if (rows.length === 0) {
      t.diagnostic(
        "no fault rows in this run (they come from faults.test.ts and soak.test.ts)",
      );
      return;
    }
    const cols = [
      "fault",
      "live OK/total",
      "copies",
      "2xx",
      "5xx",
      "reset",
      "other",
      "dispatch failed",
      "skipped",
      "peak/cap",
      "VM failures",
      "peak VM memory",
    ];
    const lines = rows.map((r) => [
      r.fault.length > 70 ? r.fault.slice(0, 69) + "…" : r.fault,
      `${r.liveOk}/${r.liveTotal}`,
      String(r.mirrored),
      String(r.outcomes["2xx"]),
      String(r.outcomes["5xx"]),
      String(r.outcomes.reset),
      String(r.outcomes["3xx"] + r.outcomes["4xx"]),
      String(r.dispatchFailed),
      Object.entries(r.skipped)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ") || "-",
      `${r.peakInflight}/${r.cap}`,
      String(r.vmFailures),
      r.peakVmMemory === undefined
        ? "-"
        : `${(r.peakVmMemory / (1 << 20)).toFixed(1)} MiB`,
    ]);
    const widths = cols.map((c, i) =>
      Math.max(c.length, ...lines.map((l) => l[i].length)),
    );
    const fmt = (cells: string[]) =>
      cells
        .map((c, i) =>
          i === 0 || i === 8 ? c.padEnd(widths[i]) : c.padStart(widths[i]),
        )
        .join("  ");
    const table = [
      fmt(cols),
      widths.map((w) => "-".repeat(w)).join("  "),
      ...lines.map(fmt),
    ];
    for (const line of table) t.diagnostic(line);
    const totals = rows.reduce(
      (a, r) => ({
        ok: a.ok + r.liveOk,
        total: a.total + r.liveTotal,
        vm: a.vm + r.vmFailures,
      }),
      { ok: 0, total: 0, vm: 0 },
    );
    t.diagnostic(
      `all faults: live ${totals.ok}/${totals.total} OK, ${totals.vm} VM failures`,
    );
    assert.deepEqual(
      rows
        .filter((r) => r.liveOk !== r.liveTotal || r.vmFailures !== 0)
        .map((r) => r.fault),
      [],
      "faults with a live request not OK or a VM failure",
    );
  },
);

test(
  "the run's registry is removed once every check passed",
  { skip: skipReason },
  () => {
    rmSync(RUN_DIR, { recursive: true, force: true });
  },
);
