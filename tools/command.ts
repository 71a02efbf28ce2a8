/**
 * A script run as a command: whether a module is the one node was started with, and running a
 * command's `main` so that its answer is the exit code and an unexpected failure one line.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Whether the module at `moduleUrl` (its `import.meta.url`) is the script node runs. */
export const isMain = (moduleUrl: string): boolean =>
  process.argv[1] !== undefined &&
  resolve(process.argv[1]) === fileURLToPath(moduleUrl);

/** Runs `main` on the arguments: its answer is the exit code; a failure prints `name: message`, exit 1. */
export function runCommand(
  name: string,
  main: (argv: string[]) => Promise<number>,
): void {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(
        `${name}: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
