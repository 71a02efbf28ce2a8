// The npm scripts that drive the toolchain — `npm run build`, `npm test` and its steps,
// `npm run format` — as one command each, so that every one of them reads its arguments (and
// answers --help) before it builds or runs anything, as the other scripts do.
//
//   node --import tsx scripts/tasks.ts TASK [ARGS...]     (package.json runs it through bootstrap)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT, userPath } from "../tools/paths.ts";

const bin = (name: string) => join(REPO_ROOT, "node_modules", ".bin", name);

/** The test files of `dir`, in the order the suite runs them. */
const testFiles = (dir: string) =>
  readdirSync(join(REPO_ROOT, dir))
    .filter((f) => f.endsWith(".test.ts"))
    .sort()
    .map((f) => join(dir, f));

/** The tests `npm test` runs, in order. */
const TEST_STEPS = [
  "build",
  "test:format",
  "test:unit",
  "test:host",
  "test:e2e",
];

interface Task {
  /** the npm command, as a user types it */
  command: string;
  /** what it does, for --help */
  about: string;
  /** whether FILE arguments are taken (test files to run instead of all) */
  files?: string;
  /** the commands it runs, given the files (all when none) */
  run: (files: string[]) => string[][];
}

const TASKS: Record<string, Task> = {
  build: {
    command: "npm run build",
    about:
      "Compiles the filter: build/mirror.wasm (release) and build/mirror.debug.wasm (debug),\n" +
      "from assembly/ with asconfig.json. The other scripts build only when the module is\n" +
      "missing or older than its sources.",
    run: () => [
      [bin("asc"), "assembly/index.ts", "--target", "release"],
      [bin("asc"), "assembly/index.ts", "--target", "debug"],
    ],
  },
  test: {
    command: "npm test",
    about:
      "Everything, in order: the build, the format check, the unit specs (as-pect), the\n" +
      "host-emulator tests and the end-to-end suite in the real Envoy (installed on first run).\n" +
      `Each step is an npm script of its own: ${TEST_STEPS.map((s) => `npm run ${s}`).join(", ")}.`,
    run: () => TEST_STEPS.map((s) => ["npm", "run", s]),
  },
  "test:format": {
    command: "npm run test:format",
    about:
      "Checks that every file is formatted as prettier formats it (npm run format fixes).",
    run: () => [[bin("prettier"), "--check", "."]],
  },
  "test:unit": {
    command: "npm run test:unit",
    about: "The as-pect unit specs of the filter's pure modules (tests/unit/).",
    run: () => [
      [
        bin("asp"),
        "--config",
        "tests/unit/as-pect.config.js",
        "--as-config",
        "tests/unit/as-pect.asconfig.json",
      ],
    ],
  },
  "test:host": {
    command: "npm run test:host",
    about:
      "The tests that drive the release build/mirror.wasm through the host emulator\n" +
      "(tests/host/), or only the FILEs given.",
    files: "tests/host",
    run: (files) => [
      [
        process.execPath,
        "--import",
        "tsx",
        "--test",
        ...(files.length ? files : testFiles("tests/host")),
      ],
    ],
  },
  "test:e2e": {
    command: "npm run test:e2e",
    about:
      "The end-to-end suite in the real Envoy (tests/e2e/, one file at a time), or only the\n" +
      "FILEs given; then its last step, tests/e2e/last/security.ts, which checks what every\n" +
      "case before it registered (tests/e2e/run.ts runs them in that order).",
    files: "tests/e2e",
    run: (files) => [
      [process.execPath, "--import", "tsx", "tests/e2e/run.ts", ...files],
    ],
  },
  format: {
    command: "npm run format",
    about:
      "Formats every file with prettier (assemblyscript-prettier for assembly/ and tests/unit/).",
    run: () => [[bin("prettier"), "--write", "."]],
  },
};

function usage(task: Task): string {
  return (
    `usage: ${task.command}${task.files ? " [-- FILE...]" : ""}\n\n${task.about}\n\n` +
    "  -h, --help"
  );
}

function main(): number {
  const [name, ...args] = process.argv.slice(2);
  const task = TASKS[name ?? ""];
  if (!task) {
    process.stderr.write(
      `tasks: unknown task "${name ?? ""}" (one of ${Object.keys(TASKS).join(", ")})\n`,
    );
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { help: { type: "boolean", short: "h" } },
      allowPositionals: task.files !== undefined,
    });
  } catch (err) {
    process.stderr.write(
      `${task.command}: ${(err as Error).message.replace(/\. To specify .*$/s, "")} (${task.command} -- --help)\n`,
    );
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(usage(task) + "\n");
    return 0;
  }
  const files = parsed.positionals.map(userPath);
  const missing = files.find((f) => !existsSync(f));
  if (missing) {
    process.stderr.write(`${task.command}: no such file: ${missing}\n`);
    return 2;
  }
  for (const [cmd, ...cmdArgs] of task.run(files)) {
    const r = spawnSync(cmd, cmdArgs, { cwd: REPO_ROOT, stdio: "inherit" });
    if (r.error) {
      process.stderr.write(`${task.command}: ${cmd}: ${r.error.message}\n`);
      return 1;
    }
    if (r.status !== 0) return r.status ?? 1;
  }
  return 0;
}

process.exitCode = main();
