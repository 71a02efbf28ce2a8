/**
 * Test entries: an AssemblyScript file of tests/host (`*-entry.ts`) that exposes one pure module
 * of assembly/ over raw pointers, compiled with asc into build/ with the filter's runtime and
 * optimisation levels (from asconfig.json), and instantiated with an abort that throws; bytes go
 * in through its input buffer and text comes out through its output buffer.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT, repoText } from "../../tools/paths.ts";

/** Compiles tests/host/`entry` into build/`wasm`; returns the module's path. */
export function buildEntry(entry: string, wasm: string): string {
  const out = join(REPO_ROOT, "build", wasm);
  mkdirSync(join(REPO_ROOT, "build"), { recursive: true });
  // asc reads an asconfig.json in its working directory: tests/host has none, so only the
  // entry is compiled, with the filter's runtime and optimisation levels.
  const config = JSON.parse(repoText("asconfig.json"));
  const release = config.targets.release;
  const asc = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, "node_modules", "assemblyscript", "bin", "asc.js"),
      entry,
      "--runtime",
      config.options.runtime,
      "--optimizeLevel",
      String(release.optimizeLevel),
      "--shrinkLevel",
      String(release.shrinkLevel),
      "--outFile",
      out,
    ],
    { cwd: fileURLToPath(new URL(".", import.meta.url)), encoding: "utf8" },
  );
  assert.equal(asc.status, 0, `asc failed:\n${asc.stdout}${asc.stderr}`);
  return out;
}

/** The exports of the module at `path`; an abort in it throws. */
export function instantiate<T>(path: string): T {
  const module = new WebAssembly.Module(readFileSync(path));
  const instance = new WebAssembly.Instance(module, {
    env: {
      abort(_msg: number, _file: number, line: number, column: number) {
        throw new Error(`guest abort at ${line}:${column}`);
      },
    },
  });
  return instance.exports as unknown as T;
}

/** The buffers every entry exports. */
export interface EntryExports {
  memory: WebAssembly.Memory;
  /** The input buffer, at least `len` bytes. */
  inputBuffer(len: number): number;
  outputBuffer(): number;
}

const decoder = new TextDecoder();

/** An instance of an entry, with its buffers. */
export class EntryGuest<T extends EntryExports> {
  readonly x: T;

  constructor(wasm: string) {
    this.x = instantiate<T>(wasm);
  }

  /** Copies `data` into the input buffer; returns its address there. */
  put(data: Uint8Array): number {
    const ptr = this.x.inputBuffer(data.length);
    new Uint8Array(this.x.memory.buffer, ptr, data.length).set(data);
    return ptr;
  }

  /** The first `len` bytes of the output buffer, as UTF-8. */
  text(len: number): string {
    return decoder.decode(
      new Uint8Array(this.x.memory.buffer, this.x.outputBuffer(), len),
    );
  }
}
