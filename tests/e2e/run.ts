// The e2e suite (`npm run test:e2e`, through scripts/tasks.ts): every case file
// tests/e2e/*.test.ts (or the files named on the command line), one at a time, then the suite's
// last step, tests/e2e/last/security.ts, which checks what every case before it registered
// (tests/support/registry.ts). The order is this file's, not the files' names. Reported as
// `node --test` reports (spec on a terminal, else TAP).
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { run } from "node:test";
import { spec, tap } from "node:test/reporters";
import { REPO_ROOT } from "../../tools/paths.ts";

const DIR = join(REPO_ROOT, "tests", "e2e");

/** What runs after every case file, in this order. */
export const LAST_STEPS = [join(DIR, "last", "security.ts")];

const args = process.argv.slice(2);
const cases = args.length
  ? args.map((f) => resolve(process.env.INIT_CWD ?? process.cwd(), f))
  : readdirSync(DIR)
      .filter((f) => f.endsWith(".test.ts"))
      .sort()
      .map((f) => join(DIR, f));
const files = [...cases.filter((f) => !LAST_STEPS.includes(f)), ...LAST_STEPS];

const stream = run({ files, concurrency: 1 });
stream.on("test:fail", () => (process.exitCode = 1));
stream.compose(process.stdout.isTTY ? new spec() : tap).pipe(process.stdout);
