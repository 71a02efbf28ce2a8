/**
 * The config fuzz run: at least 100,000 mutated plugin JSON documents go through the
 * release build/mirror.wasm on the host emulator. Each is accepted (silently) or refused with
 * one error line "invalid plugin config: <field>: <reason>" per error (at most 32, then one line
 * counting the rest), each line once (malformed JSON: one line); none traps or misuses the
 * ABI; JSON that JSON.parse refuses is never accepted; every accepted configuration also serves
 * one request (and its dark answer) without trapping, then is retired.
 *
 * Mutations are seeded (FUZZ_SEED, default below) so a failure replays exactly; FUZZ_DOCS
 * overrides the count.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { it } from "node:test";
import {
  badConfigs,
  goodConfigs,
  malformedConfigs,
  tooDeep,
} from "../fixtures/bad-configs.ts";
import { GuestTrap, Host } from "../../tools/emulator/index.ts";
import { rng, type Rng } from "./rng.ts";
import { RELEASE_WASM } from "../../tools/paths.ts";

const WASM = RELEASE_WASM;
assert.ok(
  existsSync(WASM),
  "build/mirror.wasm is missing: run `npm run build`",
);

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed7);
const DOCS = Number(process.env.FUZZ_DOCS ?? 100_000);
/** Documents per VM: a fresh instance now and then keeps one VM's history from hiding another's. */
const DOCS_PER_VM = 2_000;

const FIELDS = [
  "targets",
  "cluster",
  "percentage",
  "salt",
  "timeout_ms",
  "authority",
  "host_suffix",
  "match",
  "path_prefix",
  "headers",
  "sampling",
  "keys",
  "methods",
  "unsafe_paths",
  "marker",
  "header",
  "value",
  "inbound",
  "add",
  "remove",
  "max_body_bytes",
  "max_inflight",
  "compare",
  "status",
  "body",
  "ignore_statuses",
  "x-tenant",
  "x-shadow",
  "colour",
  "",
  "__proto__",
  "constructor",
];
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.5,
  10,
  12.3456,
  10.00001,
  99.99999,
  100,
  100.0001,
  101,
  150,
  599,
  600,
  1e3,
  5000,
  600_000,
  600_001,
  65_536,
  16_777_216,
  16_777_217,
  100_000,
  100_001,
  2 ** 31,
  2 ** 32,
  2 ** 53 + 2,
  1e21,
  1e308,
  -1e308,
  1e-7,
  5e-324,
];
const RAW_NUMBERS = [
  "1e309",
  "-1e309",
  "1E2",
  "0.00000000000000000000001",
  "1.0e-4",
  "100.00000",
  "00",
  "01",
  "-",
  "1.",
  ".5",
  "+1",
  "0x10",
  "1e",
  "123456789012345678901234567890",
];
const STRINGS = [
  "",
  " ",
  "kitchen-next",
  "outbound|8080||kitchen-next.default.svc.cluster.local",
  "GET",
  "POST",
  "get",
  "G E T",
  "x-shadow",
  "X-Shadow",
  ":path",
  ":authority",
  "connection",
  "te",
  "content-length",
  "header:",
  "header:x-user-id",
  "header::authority",
  "cookie:session",
  "cookie:",
  "query:uid",
  "query:a&b",
  "path",
  "ip",
  "skip",
  "strip",
  "exact",
  "class",
  "off",
  "/",
  "/orders",
  "orders",
  "a/b",
  "a b",
  "host:8080",
  "user@host",
  "ü",
  "日本",
  "josé",
  "😀",
  "\ud800",
  "\udc00x",
  "\u0000",
  "\u007f",
  "\r\n",
  "\t",
  'quote"inside',
  "back\\slash",
  "k".repeat(1023),
  "k".repeat(1025),
  "k".repeat(5000),
];

/** Sets an own property, even "__proto__" (plain assignment would replace the prototype). */
function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, {
    value: v,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function randomValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 3 ? 4 : 7)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick(NUMBERS);
    case 3:
      return r.pick(STRINGS);
    case 4:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    case 5: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(4); i > 0; i--)
        setKey(o, r.pick(FIELDS), randomValue(r, depth + 1));
      return o;
    }
    default:
      return { cluster: r.pick(STRINGS), percentage: r.pick(NUMBERS) };
  }
}

/** Every container in a JSON value, with the way to reach it. */
function containers(
  v: unknown,
  out: Array<unknown[] | Record<string, unknown>> = [],
) {
  if (Array.isArray(v)) {
    out.push(v);
    v.forEach((x) => containers(x, out));
  } else if (v && typeof v === "object") {
    out.push(v as Record<string, unknown>);
    Object.values(v).forEach((x) => containers(x, out));
  }
  return out;
}

/** A leaf replaced by another of its own type: keeps most documents close to valid. */
function mutateLeaf(r: Rng, root: unknown): unknown {
  const slots: Array<[Record<string, unknown> | unknown[], string | number]> =
    [];
  for (const c of containers(root))
    for (const k of Array.isArray(c) ? c.keys() : Object.keys(c)) {
      const v = (c as Record<string, unknown>)[k as string];
      if (v === null || typeof v !== "object") slots.push([c, k]);
    }
  if (slots.length === 0) return root;
  const [c, k] = r.pick(slots);
  const v = (c as Record<string, unknown>)[k as string];
  const next =
    typeof v === "number"
      ? r.pick(NUMBERS)
      : typeof v === "string"
        ? r.pick(STRINGS)
        : typeof v === "boolean"
          ? !v
          : null;
  if (Array.isArray(c)) c[k as number] = next;
  else setKey(c, k as string, next);
  return root;
}

/** One structural mutation, in place (the root is always an object or array when called). */
function mutateTree(r: Rng, root: unknown): unknown {
  if (r.chance(0.5)) return mutateLeaf(r, root);
  const all = containers(root);
  if (all.length === 0) return randomValue(r);
  const c = r.pick(all);
  if (Array.isArray(c)) {
    const i = r.int(c.length + 1);
    switch (r.int(5)) {
      case 0:
        c.splice(i, 0, randomValue(r));
        break;
      case 1:
        c.splice(i, 1);
        break;
      case 2:
        if (c.length) c.push(structuredClone(c[r.int(c.length)]));
        break;
      case 3:
        c.length = 0;
        break;
      default:
        if (c.length) c[r.int(c.length)] = randomValue(r);
    }
  } else {
    const keys = Object.keys(c);
    const k = keys.length ? r.pick(keys) : r.pick(FIELDS);
    // Own properties only ("constructor" would otherwise read Object's).
    const value = Object.hasOwn(c, k) ? c[k] : null;
    switch (r.int(6)) {
      case 0:
        delete c[k];
        break;
      case 1:
        setKey(c, r.pick(FIELDS), randomValue(r));
        break;
      case 2:
        setKey(c, k, [value]);
        break;
      case 3: {
        const wrapper = {};
        setKey(wrapper, r.pick(FIELDS), value);
        setKey(c, k, wrapper);
        break;
      }
      case 4:
        setKey(c, k, r.pick(NUMBERS));
        break;
      default:
        setKey(c, k, randomValue(r));
    }
  }
  return root;
}

const TEXT_NOISE = [
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  '"',
  "\\",
  "\\u",
  "\\ud800",
  " ",
  "\n",
  "\u0000",
  "\u001f",
  "0",
  "-",
  "e",
  ".",
  "null",
  "true",
  "nul",
  "é",
  "\ud83d",
  "🍔",
];

/** One textual mutation. */
function mutateText(r: Rng, s: string): string {
  const at = r.int(s.length + 1);
  switch (r.int(7)) {
    case 0:
      return s.slice(0, at); // truncated
    case 1:
      return s.slice(0, at) + s.slice(Math.min(s.length, at + 1 + r.int(8)));
    case 2:
      return s.slice(0, at) + r.pick(TEXT_NOISE) + s.slice(at);
    case 3:
      return (
        s.slice(0, at) + String.fromCharCode(r.int(0x80)) + s.slice(at + 1)
      );
    case 4: {
      const from = r.int(s.length + 1);
      return s.slice(0, at) + s.slice(from, from + r.int(40)) + s.slice(at);
    }
    case 5: // a number as written, where a number was
      return s.replace(/-?\d+(\.\d+)?([eE][-+]?\d+)?/, r.pick(RAW_NUMBERS));
    default: // deep nesting around the document or one of its values
      return r.chance(0.5)
        ? "[".repeat(r.int(64)) + s + "]".repeat(r.int(64))
        : s.replace(/:\s*/, ":" + '{"a":'.repeat(r.int(40)));
  }
}

const goodSeeds: unknown[] = Object.values(goodConfigs).map((t) =>
  JSON.parse(t),
);
const badSeeds: unknown[] = Object.values(badConfigs)
  .map(([t]) => t)
  .filter((t) => t.length < 100_000)
  .flatMap((t) => {
    try {
      return [JSON.parse(t)];
    } catch {
      return [];
    }
  });
const rawSeeds = [
  ...Object.values(malformedConfigs).map(([t]) => t),
  tooDeep[0],
  "",
  "{}",
];

/** One mutated document. */
function documentOf(r: Rng): string {
  if (r.chance(0.02)) return r.pick(rawSeeds);
  let tree = structuredClone(r.pick(r.chance(0.7) ? goodSeeds : badSeeds));
  for (let n = 1 + r.int(2); n > 0; n--) tree = mutateTree(r, tree);
  let text =
    JSON.stringify(tree, null, r.chance(0.2) ? 2 : undefined) ?? "null";
  if (r.chance(0.25))
    for (let n = 1 + r.int(3); n > 0; n--) text = mutateText(r, text);
  return text;
}

function jsParses(text: string): { ok: boolean; value?: unknown } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** Drives one request through the configuration just accepted, and answers its copy. */
function serveOne(host: Host, i: number): void {
  const stream = host.stream();
  stream.requestHeaders(
    [
      [":method", i % 3 === 0 ? "POST" : "GET"],
      [":path", `/orders/${i}?uid=u${i}`],
      [":authority", "kitchen"],
      ["x-request-id", `fuzz-${i}`],
      ["x-user-id", `user-${i}`],
      ["x-tenant", "acme"],
      ["cookie", `session=s${i}`],
      ["x-shadow", i % 5 === 0 ? "true" : "no"],
    ],
    i % 3 !== 0,
  );
  if (i % 3 === 0) stream.requestBody(`{"n":${i}}`, true);
  stream.responseHeaders([[":status", "200"]], false);
  stream.responseBody("burger", true);
  stream.done();
  for (const call of host.pendingCalls())
    if (i % 2 === 0) host.respond(call, { status: 200, body: "burger" });
    else host.respondReset(call);
}

it(`${DOCS} mutated plugin configs: each accepted, or refused with a line per error, none traps (seed ${SEED})`, async (t) => {
  const r = rng(SEED);
  /** Failure kind → count and the first few documents. */
  const failures = new Map<string, { count: number; examples: string[] }>();
  const reasons = new Map<string, number>();
  let accepted = 0;
  let refused = 0;
  let host: Host | undefined;
  const load = async () =>
    (host = await Host.load(WASM, { rootId: "mirror", logLevel: "warn" }));
  const started = performance.now();
  for (let i = 0; i < DOCS; i++) {
    if (i % DOCS_PER_VM === 0) await load();
    const h = host!;
    const text = documentOf(r);
    const fail = (kind: string, detail = "") => {
      const f = failures.get(kind) ?? { count: 0, examples: [] };
      f.count++;
      if (f.examples.length < 3)
        f.examples.push(
          `#${i} ${JSON.stringify(text.length > 300 ? text.slice(0, 300) + "…" : text)}${detail ? ` → ${detail}` : ""}`,
        );
      failures.set(kind, f);
    };
    h.clearLogs();
    let ok = false;
    try {
      ok = h.configure(text);
      if (ok) serveOne(h, i);
    } catch (err) {
      fail(
        err instanceof GuestTrap ? "trapped" : "the emulator threw",
        String((err as Error).message),
      );
      await load();
      continue;
    }
    if (h.trapped.length) {
      fail("trapped", JSON.stringify(h.trapped));
      await load();
      continue;
    }
    if (h.violations.length) fail("misused the ABI", h.violations.join("; "));
    // An accepted config may warn about what it will never do (a target at 0 %): one
    // "plugin config: <field>: <reason>" line per such field, nothing else.
    const lines = h
      .logsAtLeast("warn")
      .map((l) => l.message)
      .filter(
        (m) =>
          !(
            ok &&
            /^plugin config: (targets\[\d+\]\.)?percentage: 0 mirrors nothing/.test(
              m,
            )
          ),
      );
    const js = jsParses(text);
    if (ok) {
      accepted++;
      if (lines.length) fail("accepted but logged", JSON.stringify(lines));
      if (!js.ok) fail("accepted although JSON.parse refuses it");
      else if (
        !js.value ||
        typeof js.value !== "object" ||
        Array.isArray(js.value)
      )
        fail("accepted a document that is not an object");
      h.retireRoot();
      continue;
    }
    refused++;
    // Every error, one line each (at most 32, then one line counting the rest).
    const parsed = lines.map((l) =>
      /^invalid plugin config: (.*?): (.+)$/s.exec(l),
    );
    if (
      lines.length === 0 ||
      lines.length > 33 ||
      parsed.some((m) => m === null)
    ) {
      fail(
        'refused without 1 to 33 "invalid plugin config: <field>: <reason>" lines',
        JSON.stringify(lines),
      );
      continue;
    }
    if (new Set(lines).size !== lines.length)
      fail("refused with a line twice", JSON.stringify(lines));
    for (const [line, field, reason] of parsed as RegExpExecArray[]) {
      if (field === "" || field.endsWith("."))
        fail(
          "refused with an empty or dangling field name",
          JSON.stringify(line),
        );
      const general = reason.replace(/got .*|at offset \d+/s, "…");
      reasons.set(general, (reasons.get(general) ?? 0) + 1);
    }
    if (!js.ok && (lines.length !== 1 || parsed[0]![1] !== "configuration"))
      fail(
        "JSON.parse refuses it, but the filter blamed a field",
        JSON.stringify(lines),
      );
  }
  const seconds = (performance.now() - started) / 1000;
  t.diagnostic(
    `${accepted + refused} documents in ${seconds.toFixed(1)} s: ${accepted} accepted, ${refused} refused; ${reasons.size} distinct reasons, most frequent: ${[
      ...reasons,
    ]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([k, v]) => `${v}× ${k}`)
      .join(" | ")}`,
  );
  const report = [...failures].map(
    ([kind, f]) =>
      `${kind}: ${f.count} document(s), e.g.\n  ${f.examples.join("\n  ")}`,
  );
  assert.deepEqual(report, [], `replay with FUZZ_SEED=${SEED}`);
  assert.equal(accepted + refused, DOCS);
  // A run that only ever hits one side would be a broken mutator, not a pass.
  assert.ok(accepted > DOCS / 20, `only ${accepted} accepted`);
  assert.ok(refused > DOCS / 20, `only ${refused} refused`);
});
