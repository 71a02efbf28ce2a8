// `npm run validate -- [FILE...]`: the filter's own check of plugin configuration files — the
// release build/mirror.wasm's on_configure, run in the host emulator — printing what the filter
// says, as Envoy would log it. `npm start` and `npm run istio` run the same check first.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ensureBuild } from "../tools/build.ts";
import { shownPath, userPath } from "../tools/paths.ts";
import { refusalLines } from "./config-message.ts";
import { checkPluginConfig, PLUGIN_CONFIG_FILE } from "./plugin-config.ts";
import { isMain } from "../tools/command.ts";

export const USAGE = `usage: npm run validate -- [FILE...]

Checks each plugin configuration FILE (the JSON that Envoy's \`configuration\` or Istio's
\`pluginConfig\` carries; default envoy/config.json) with the filter's own check: the release
build/mirror.wasm's on_configure, run in the host emulator (built first if missing or stale).
Prints the filter's message for a refused file, e.g.

  envoy/config.json: invalid plugin config: targets[0].percentge: unknown field (did you mean "percentage"?)

with the line and column of a JSON syntax error (FILE:LINE:COLUMN: and the line under it).

Exit codes: 0 every file accepted, 1 a file refused or unreadable, 2 bad arguments.
`;

/** The CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let files: string[];
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { help: { type: "boolean", short: "h" } },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    files = positionals.length
      ? positionals.map(userPath)
      : [PLUGIN_CONFIG_FILE];
  } catch (err) {
    // Node's message goes on to explain `--` for positionals: the first sentence says it.
    const message = (err as Error).message.replace(/\. To specify .*$/s, "");
    process.stderr.write(`validate: ${message} (npm run validate -- --help)\n`);
    return 2;
  }
  ensureBuild();
  let code = 0;
  for (const file of files) {
    const shown = shownPath(file);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      process.stderr.write(
        `${shown}: cannot read: ${(err as Error).message}\n`,
      );
      code = 1;
      continue;
    }
    const { ok, messages } = await checkPluginConfig(text);
    if (ok)
      process.stdout.write(
        `${shown}: valid (build/mirror.wasm accepts it)\n` +
          messages.map((m) => `  ${m}\n`).join(""),
      );
    else {
      process.stderr.write(
        refusalLines(shown, text, messages)
          .map((l) => `${l}\n`)
          .join(""),
      );
      code = 1;
    }
  }
  return code;
}

if (isMain(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
