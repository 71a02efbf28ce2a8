/** The project's commands run as a pipeline runs them: in their own process, from the repository root. */
import { spawn } from "node:child_process";
import { REPO_ROOT } from "../../tools/paths.ts";

/** `npm run report`'s command, as a pipeline runs it, in its own process: its exit code and output. */
export function reportCommand(
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "scripts/report/cli.ts", ...args],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
