/**
 * What the tests need installed, and when they may skip instead: under CI=true never; locally only
 * when a tool cannot be installed on this machine (not root, no apt-get, no Python or PyPI).
 */
import { ensureTool } from "../../tools/provision/debian.ts";

/**
 * The tool's path, or a reason to skip. Under CI=true a missing tool that cannot be installed is
 * an error, never a skip.
 */
export function toolOrSkip(name: string): { path?: string; skip?: string } {
  try {
    return { path: ensureTool(name) };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (process.env.CI === "true")
      throw new Error(`CI=true and ${name} could not be provisioned: ${why}`);
    process.stderr.write(`SKIPPED: ${why}\n`);
    return { skip: why };
  }
}
