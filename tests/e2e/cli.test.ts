// The npm scripts as a new user meets them, each run through npm in a fresh copy of the
// repository (the tracked and untracked files, no build/, node_modules shared read-only): --help
// and bad arguments are answered before any build; `npm run validate` builds only when it must;
// a typo in envoy/config.json (`percentge`) stops `npm start`, `npm run validate` and
// `npm run istio` with the filter's own suggestion, before anything starts; and `npm start`'s
// summaries account for every order it sent.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, sep } from "node:path";
import { after, describe, it } from "node:test";
import { envoyBinary, skipReason } from "../support/envoy.ts";
import {
  RELEASE_WASM,
  RELEASE_WASM_PATH,
  REPO_ROOT,
  repoText,
} from "../../tools/paths.ts";
import { demoSummaries, summaryGaps } from "../host/demo-summary.ts";

const copies: string[] = [];
after(() => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

/** The repository's files: as git lists them, or (no git) all but what .gitignore names. */
function repositoryFiles(): string[] {
  try {
    return execFileSync(
      "git",
      ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "ignore"] },
    )
      .toString()
      .split("\0")
      .filter(Boolean);
  } catch {
    const skip = new Set([".git", "node_modules", ".venv", "build", "tmp"]);
    return (readdirSync(REPO_ROOT, { recursive: true }) as string[]).filter(
      (f) =>
        !skip.has(f.split(sep)[0]) &&
        !f.endsWith(".log") &&
        statSync(join(REPO_ROOT, f)).isFile(),
    );
  }
}

/**
 * A fresh copy of the repository: its files as git sees them (tracked and untracked, not
 * ignored), without build/ (unless `withBuild`), with this checkout's node_modules linked in.
 */
function freshCopy(withBuild = false): string {
  const dir = mkdtempSync(join(tmpdir(), "mirror-clone-"));
  copies.push(dir);
  const files = repositoryFiles().filter((f) => existsSync(join(REPO_ROOT, f)));
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(join(REPO_ROOT, f), join(dir, f));
  }
  symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"));
  // The linked packages are those of this lock file: an old lock time keeps scripts/bootstrap.mjs
  // from reinstalling them (into the shared node_modules).
  utimesSync(join(dir, "package-lock.json"), new Date(0), new Date(0));
  if (withBuild) {
    mkdirSync(join(dir, "build"));
    copyFileSync(RELEASE_WASM, join(dir, RELEASE_WASM_PATH));
  }
  return dir;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `npm run <script> -- <args>` in `cwd`. */
function npmRun(cwd: string, script: string, ...args: string[]): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("npm", ["run", "--silent", script, "--", ...args], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      // Envoy is never needed here; should a script look for it, it finds this one.
      env: {
        ...process.env,
        ...(envoyBinary ? { ENVOY_BIN: envoyBinary.bin } : {}),
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stdout, stderr, ms: Date.now() - started }),
    );
  });
}

const built = (dir: string) => existsSync(join(dir, RELEASE_WASM_PATH));
const SUGGESTION =
  'targets[0].percentge: unknown field (did you mean "percentage"?)';

/** Every npm script a user runs (the install hook aside), from package.json. */
const SCRIPTS = Object.keys(
  JSON.parse(repoText("package.json")).scripts,
).filter((s) => s !== "postinstall");

describe("on a fresh clone, --help and bad arguments are answered before any build", () => {
  const dir = freshCopy();
  for (const script of SCRIPTS)
    it(`npm run ${script} -- --help`, async () => {
      const r = await npmRun(dir, script, "--help");
      assert.equal(r.code, 0, r.stderr);
      const command = ["start", "test"].includes(script)
        ? `npm ${script}`
        : `npm run ${script}`;
      assert.ok(
        r.stdout.startsWith(`usage: ${command}`),
        `npm run ${script} -- --help printed:\n${r.stdout}${r.stderr}`,
      );
      assert.doesNotMatch(r.stderr, /^build:/m);
      assert.ok(!built(dir), "it built the filter");
      assert.ok(
        !existsSync(join(dir, "build")),
        "it wrote build/ (it ran something)",
      );
    });
  const bad: Array<[string, string[], RegExp]> = [
    ["start", ["--duration", "abc"], /--duration: must be a positive number/],
    ["start", ["--live-port", "http"], /--live-port: must be a port number/],
    ["oci", ["--bogus"], /Unknown option '--bogus'/],
    ["istio", ["--port", "x"], /--port: must be a port number/],
    ["validate", ["--bogus"], /Unknown option '--bogus'/],
    ["gates", ["--bogus"], /Unknown option '--bogus'/],
    ["bench", ["--bogus"], /unknown or incomplete option '--bogus'/],
    ["build", ["--bogus"], /^npm run build: Unknown option '--bogus'/m],
    ["test", ["--bogus"], /^npm test: Unknown option '--bogus'/m],
    ["test:host", ["no-such.test.ts"], /no such file/],
  ];
  for (const [script, args, message] of bad)
    it(`npm run ${script} -- ${args.join(" ")} → exit 2`, async () => {
      const r = await npmRun(dir, script, ...args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.ok(!built(dir), "it built the filter");
    });
});

describe("npm run validate", () => {
  it("checks envoy/config.json with an up-to-date build, without building", async () => {
    const dir = freshCopy(true);
    const r = await npmRun(dir, "validate", "envoy/config.json");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      "envoy/config.json: valid (build/mirror.wasm accepts it)\n",
    );
    assert.doesNotMatch(r.stderr, /^build:/m);
  });

  it("names a JSON error's line and column, a YAML file and a byte order mark, each file in turn", async () => {
    const dir = freshCopy(true);
    writeFileSync(
      join(dir, "comma.json"),
      '{\n  "targets": [{"cluster": "k", "percentage": 10,}]\n}\n',
    );
    writeFileSync(join(dir, "plugin.yaml"), "cluster: k\npercentage: 10\n");
    writeFileSync(
      join(dir, "bom.json"),
      '\uFEFF{"cluster":"k","percentage":1}',
    );
    const r = await npmRun(
      dir,
      "validate",
      "comma.json",
      "plugin.yaml",
      "bom.json",
      "envoy/config.json",
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^comma\.json:2:49: invalid plugin config: configuration: is not valid JSON: expected a field name at offset 50$/m,
    );
    assert.match(
      r.stderr,
      /^plugin\.yaml: is YAML, but the plugin config is JSON/m,
    );
    assert.match(
      r.stderr,
      /^bom\.json: begins with a byte order mark \(BOM\)/m,
    );
    assert.equal(
      r.stdout,
      "envoy/config.json: valid (build/mirror.wasm accepts it)\n",
    );
  });

  it("answers an unknown flag in one line", async () => {
    const r = await npmRun(freshCopy(true), "validate", "--bogus");
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      "validate: Unknown option '--bogus' (npm run validate -- --help)\n",
    );
  });

  it("on a fresh clone, builds the filter first (it is missing), then checks", async () => {
    const dir = freshCopy();
    const r = await npmRun(dir, "validate");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^build: build\/mirror\.wasm is missing; building/m);
    assert.ok(built(dir));
    assert.match(r.stdout, /^envoy\/config\.json: valid/);
  });
});

describe("a typo in envoy/config.json (percentge) stops every script that uses it, with the filter's suggestion", () => {
  const dir = freshCopy(true);
  const file = join(dir, "envoy", "config.json");
  writeFileSync(
    file,
    readFileSync(file, "utf8").replace('"percentage"', '"percentge"'),
  );
  assert.match(readFileSync(file, "utf8"), /percentge/);
  const cases: Array<[string, string[]]> = [
    ["validate", []],
    ["start", ["--duration", "1"]],
    ["istio", []],
    ["istio", ["--image", "registry.example.com/proxy-wasm-mirror:0.1.0"]],
    ["istio", ["--envoyfilter", "--service", "checkout"]],
    ["sync", []],
  ];
  for (const [script, args] of cases)
    it(`npm run ${script} ${args.join(" ")}`.trim(), async () => {
      const r = await npmRun(dir, script, ...args);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `envoy/config\\.json: invalid plugin config: ${SUGGESTION.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`,
        ),
      );
      assert.equal(r.stdout, "", "nothing rendered or started");
    });

  it("and a flag pointing at another file checks that file", async () => {
    const other = join(dir, "other.json");
    writeFileSync(
      other,
      '{"targets":[{"cluster":"kitchen-next","percentage":5}],"sampling":{"key":["path"]}}',
    );
    const r = await npmRun(dir, "validate", "other.json");
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'other.json: invalid plugin config: sampling.key: unknown field (did you mean "keys"?)\n',
    );
    const start = await npmRun(dir, "start", "--config", other);
    assert.equal(start.code, 1);
    assert.match(
      start.stderr,
      /sampling\.key: unknown field \(did you mean "keys"\?\)/,
    );
  });
});

describe("npm start", () => {
  it(
    "its first summary and its final counts account for every order sent",
    {
      skip: envoyBinary ? false : skipReason,
    },
    async () => {
      const dir = freshCopy(true);
      const r = await npmRun(
        dir,
        "start",
        "--duration",
        "2",
        ...["listener", "admin", "live", "dark"].flatMap((p) => [
          `--${p}-port`,
          "0",
        ]),
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const summaries = demoSummaries(r.stdout);
      assert.equal(summaries.length, 2, r.stdout);
      for (const s of summaries) {
        assert.ok(s.sent > 0, r.stdout);
        assert.equal(s.liveOk, s.sent, r.stdout);
        assert.deepEqual(summaryGaps(s), [], r.stdout);
      }
      assert.ok(summaries[0].copies > 0, r.stdout);
      assert.ok(summaries[0].received !== undefined, r.stdout);
    },
  );
});

describe("npm run istio", () => {
  it("for a Service whose pods serve on 9090, names the dark cluster by the dark Service's port and says what it rendered from", async () => {
    const dir = freshCopy(true);
    const flags = ["--service=cart", "--port=9090", "--dark-service=cart-next"];
    const r = await npmRun(dir, "istio", ...flags, "--envoyfilter");
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^# Rendered by: .* \(plugin config: envoy\/config\.json\)$/m,
    );
    assert.match(
      r.stdout,
      /"outbound\|8080\|\|cart-next\.default\.svc\.cluster\.local"/,
    );
    assert.doesNotMatch(r.stdout, /outbound\|9090\|/);
    assert.match(
      r.stderr,
      /^istio: plugin config envoy\/config\.json, the demo's: 50 % of requests, keyed on header:x-user-id/m,
    );
    assert.match(
      r.stderr,
      /^istio: copies go to outbound\|8080\|\|cart-next\.default\.svc\.cluster\.local \(port 8080, the default: give the dark Service's own port with --dark-port/m,
    );
    const given = await npmRun(
      dir,
      "istio",
      ...flags,
      "--dark-port=80",
      "--image=registry.example.com/proxy-wasm-mirror:0.1.0",
    );
    assert.equal(given.code, 0, given.stderr);
    assert.match(
      given.stdout,
      /\boutbound\|80\|\|cart-next\.default\.svc\.cluster\.local\b/,
    );
    assert.match(given.stderr, /\(--dark-port 80: the dark Service's port\)$/m);
  });
});
