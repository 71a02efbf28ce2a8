/**
 * `npm run report`'s command line as a newcomer meets it: a negative number after a flag is judged
 * as that flag's value, in one line; an address on a port Node's fetch refuses (a listening one)
 * is named as such, not taken for an Envoy that is not running; and docs/report.md's usage shows
 * every flag the report takes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { main, USAGE } from "../../scripts/report/cli.ts";

/** The report's exit code and what it printed. */
async function report(
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = "";
  let e = "";
  out.on("data", (d) => (o += d));
  err.on("data", (d) => (e += d));
  const code = await main(argv, out, err);
  return { code, out: o, err: e };
}

describe("npm run report's command line", () => {
  const oneLine: Record<string, [string[], string]> = {
    "--settle -1": [
      ["--settle", "-1"],
      'report: --settle: must be a number of seconds, got "-1" (npm run report -- --help)\n',
    ],
    "--interval -2 --watch": [
      ["--interval", "-2", "--watch"],
      'report: --interval: must be a number of seconds, got "-2" (npm run report -- --help)\n',
    ],
    "--settle without a value": [
      ["--settle"],
      "report: Option '--settle <value>' argument missing (npm run report -- --help)\n",
    ],
    "an unknown flag": [
      ["--bogus"],
      "report: Unknown option '--bogus' (npm run report -- --help)\n",
    ],
  };
  for (const [name, [argv, line]] of Object.entries(oneLine))
    it(`${name}: exit 4, one line`, async () => {
      const r = await report(...argv);
      assert.deepEqual(r, { code: 4, out: "", err: line });
    });

  it("an admin on a port Node's fetch refuses (listening) is named as such, not as Envoy not running", async () => {
    // The Fetch standard's blocked ports that a test may listen on; the first one free is used.
    let server: net.Server | undefined;
    let port = 0;
    for (const p of [6667, 6668, 6669, 6665, 6666, 6000]) {
      server = await new Promise<net.Server | undefined>((resolve) => {
        const s = net.createServer((c) => c.end());
        s.once("error", () => resolve(undefined));
        s.listen(p, "127.0.0.1", () => resolve(s));
      });
      if (server) {
        port = p;
        break;
      }
    }
    assert.ok(server, "no blocked port free to listen on");
    try {
      const r = await report("--admin", String(port), "--settle", "0");
      assert.equal(r.code, 3, r.err);
      assert.equal(r.out, "");
      assert.equal(
        r.err,
        `report: Node's fetch refuses port ${port} (one of the Fetch standard's blocked ports), so it cannot reach Envoy's admin at http://127.0.0.1:${port}: serve it on another port\n`,
      );
      assert.doesNotMatch(r.err, /is Envoy running/);
    } finally {
      server.close();
    }
  });

  it("docs/report.md's usage shows every flag of --help", () => {
    const docs = readFileSync(
      fileURLToPath(new URL("../../docs/report.md", import.meta.url)),
      "utf8",
    );
    const usage = /## Usage\n\n```sh\n([\s\S]*?)```/.exec(docs)?.[1];
    assert.ok(usage, "docs/report.md: no sh block under ## Usage");
    const flags = (text: string) =>
      [...new Set(text.match(/--[a-z][a-z-]*/g))].sort();
    assert.deepEqual(flags(usage), flags(USAGE));
  });
});
