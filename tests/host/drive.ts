/**
 * What the host tests that drive build/mirror.wasm share: keys the README's sampling formula
 * (tests/support/sampling.ts) mirrors or not, and hosts and streams that are checked after every test —
 * nothing trapped, no ABI misuse, no error line but a refused configuration's, every callback
 * answered Continue. A test file calls `checkAfterEach()` once.
 */
import { afterEach } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import {
  FilterStatus,
  Host,
  type HostOptions,
  type Stream,
} from "../../tools/emulator/index.ts";
import { RELEASE_WASM } from "../../tools/paths.ts";
import { mirroredByFormula } from "../support/sampling.ts";

export const WASM = RELEASE_WASM;
assert.ok(
  existsSync(WASM),
  "build/mirror.wasm is missing: run `npm run build`",
);

// ----- keys the README's sampling formula (tests/support/sampling.ts) mirrors, or not -----------

/** The first `${prefix}-n` the formula mirrors (or not) at `percentage` under `salt`. */
export function keyWhere(
  salt: string,
  percentage: number,
  mirrored: boolean,
  prefix = "k",
): string {
  for (let n = 0; ; n++) {
    const key = `${prefix}-${n}`;
    if (mirroredByFormula(salt, key, percentage) === mirrored) return key;
  }
}

// ----- hosts and streams checked after every test -----------------------------------------------

const hosts: Host[] = [];
const streams: Stream[] = [];

/** Registers the after-each checks for the calling test file. */
export function checkAfterEach(): void {
  afterEach(() => {
    const hs = hosts.splice(0);
    const ss = streams.splice(0);
    for (const h of hs) {
      assert.deepEqual(h.trapped, [], "the module trapped");
      assert.deepEqual(h.violations, [], "the module misused the ABI");
      // The only error a test may cause on purpose is a refused configuration.
      const errors = h
        .logsAtLeast("error")
        .filter((l) => !l.message.startsWith("invalid plugin config: "));
      assert.deepEqual(
        errors.map((l) => l.message),
        [],
        "no error or critical log line",
      );
    }
    for (const s of ss) {
      const stopped = s.statuses.filter(
        ([, status]) => status !== FilterStatus.Continue,
      );
      assert.deepEqual(
        stopped,
        [],
        `stream ${s.id}: every callback must answer Continue`,
      );
    }
  });
}

/** A host of the release module, checked after the test. */
export async function load(options: HostOptions = {}): Promise<Host> {
  const host = await Host.load(WASM, { rootId: "mirror", ...options });
  hosts.push(host);
  return host;
}

/** A host configured with `config`; fails the test (with the logs) if it is refused. */
export async function mirror(
  config: object,
  options: HostOptions = {},
): Promise<Host> {
  const host = await load(options);
  assert.equal(
    host.configure(JSON.stringify(config)),
    true,
    `config refused: ${host.logs().map((l) => l.message)}`,
  );
  return host;
}

/** A stream of `host`, checked after the test. */
export function watched(s: Stream): Stream {
  streams.push(s);
  return s;
}
