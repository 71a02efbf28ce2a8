/**
 * Linking a module to the emulator: every import it declares must be one the emulator implements,
 * with the ABI's signature as the binary declares it (Node's WebAssembly.Module.imports has no
 * types, so they are read from the binary's type and import sections).
 */
import type { ImportFn } from "./imports.ts";

/**
 * The imports object for `module`: each implementation wrapped to call `onCall(name)` first, and
 * the `extra` modules (test probes, never `env` or `wasi_snapshot_preview1`) as given. Throws,
 * naming them, when an import is not implemented or has another signature than `signatures`.
 */
export function linkImports(
  module: WebAssembly.Module,
  bytes: Uint8Array,
  implementations: Record<string, ImportFn>,
  signatures: Record<string, string>,
  extra: Record<string, Record<string, (...args: never[]) => unknown>> = {},
  onCall: (name: string) => void = () => {},
): WebAssembly.Imports {
  const declared = importSignatures(bytes);
  const missing: string[] = [];
  const mismatched: string[] = [];
  const imports: Record<string, Record<string, unknown>> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    const key = `${imp.module}.${imp.name}`;
    const probe = extra[imp.module]?.[imp.name];
    if (
      imp.module !== "env" &&
      imp.module !== "wasi_snapshot_preview1" &&
      probe
    ) {
      (imports[imp.module] ??= {})[imp.name] = probe;
      continue;
    }
    const fn = implementations[key];
    if (imp.kind !== "function" || !fn) {
      missing.push(`${key} (${imp.kind})`);
      continue;
    }
    const want = signatures[key];
    const got = declared.get(key);
    if (got !== undefined && (got.size !== 1 || !got.has(want))) {
      mismatched.push(
        `${key}: module has (${[...got].join(" | ")}), ABI is (${want})`,
      );
      continue;
    }
    const counted = imp.name;
    (imports[imp.module] ??= {})[imp.name] = (...a: never[]) => {
      onCall(counted);
      return fn(...a);
    };
  }
  if (missing.length > 0 || mismatched.length > 0) {
    const lines = [
      ...missing.map((m) => `  not implemented by the emulator: ${m}`),
      ...mismatched.map((m) => `  wrong signature: ${m}`),
    ];
    throw new Error(
      `the module's imports cannot be linked:\n${lines.join("\n")}`,
    );
  }
  return imports as WebAssembly.Imports;
}

/** Import name → the signatures the binary declares for it ("params:results", i/I/f/F/v/r/x). */
function importSignatures(bytes: Uint8Array): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  let pos = 8;
  const u32 = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[pos++];
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  };
  const name = (): string => {
    const len = u32();
    const s = Buffer.from(bytes.buffer, bytes.byteOffset + pos, len).toString(
      "utf8",
    );
    pos += len;
    return s;
  };
  const valType = (b: number): string =>
    ({
      0x7f: "i",
      0x7e: "I",
      0x7d: "f",
      0x7c: "F",
      0x7b: "v",
      0x70: "r",
      0x6f: "x",
    })[b] ?? "?";
  const limits = () => {
    const flags = bytes[pos++];
    u32();
    if (flags & 1) u32();
  };
  const types: string[] = [];
  while (pos < bytes.length) {
    const id = bytes[pos++];
    const size = u32();
    const end = pos + size;
    if (id === 1) {
      const count = u32();
      for (let i = 0; i < count; i++) {
        pos++; // 0x60: func type
        const np = u32();
        let params = "";
        for (let j = 0; j < np; j++) params += valType(bytes[pos++]);
        const nr = u32();
        let results = "";
        for (let j = 0; j < nr; j++) results += valType(bytes[pos++]);
        types.push(`${params}:${results}`);
      }
    } else if (id === 2) {
      const count = u32();
      for (let i = 0; i < count; i++) {
        const key = `${name()}.${name()}`;
        const kind = bytes[pos++];
        if (kind === 0) {
          const sig = types[u32()];
          if (!out.has(key)) out.set(key, new Set());
          out.get(key)!.add(sig);
        } else if (kind === 1) {
          pos++;
          limits();
        } else if (kind === 2) {
          limits();
        } else if (kind === 3) {
          pos += 2;
        } else {
          pos++;
          u32();
        }
      }
      break;
    }
    pos = end;
  }
  return out;
}
