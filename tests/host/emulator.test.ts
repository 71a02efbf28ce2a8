/**
 * Tests of the host emulator itself, against tiny modules built byte by byte here (a probe that
 * forwards each ABI import through an exported trampoline and calls back into the test from each
 * callback), and against the plumbing of the release build/mirror.wasm.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import {
  BufferType,
  GuestTrap,
  HeaderMap,
  HeaderMapType,
  Host,
  type HostOptions,
  LogLevel,
  MetricType,
  WasmResult,
  parsePairs,
  serializePairs,
} from "../../tools/emulator/index.ts";
import { RELEASE_WASM } from "../../tools/paths.ts";

// ----- a minimal wasm encoder ---------------------------------------------------------------------

const i32 = 0x7f;
const i64 = 0x7e;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function name(s: string): number[] {
  const b = [...Buffer.from(s, "utf8")];
  return [...uleb(b.length), ...b];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return body.length === 0 ? [] : [id, ...uleb(body.length), ...body];
}

interface Sig {
  params: number[];
  results: number[];
}
interface ImportDef extends Sig {
  module: string;
  name: string;
}
interface FuncDef extends Sig {
  export: string;
  /** Body instructions; `fn(name)` resolves an import or function index by name. */
  code: (fn: (name: string) => number) => number[];
}

const op = {
  unreachable: 0x00,
  drop: 0x1a,
  end: 0x0b,
  call: 0x10,
  localGet: 0x20,
  globalGet: 0x23,
  globalSet: 0x24,
  i32Const: 0x41,
  i32Add: 0x6a,
};

/** A module: imports, functions (all exported), one memory and a bump `malloc` if asked. */
function wasmModule(
  imports: ImportDef[],
  funcs: FuncDef[],
  opts: { memory?: boolean; malloc?: boolean; abi?: boolean } = {},
): Uint8Array {
  const { memory = true, malloc = true, abi = true } = opts;
  const all = [...funcs];
  if (malloc) {
    all.push({
      export: "malloc",
      params: [i32],
      results: [i32],
      code: () => [
        ...[op.globalGet, 0],
        ...[op.globalGet, 0, op.localGet, 0, op.i32Add, op.globalSet, 0],
      ],
    });
  }
  if (abi)
    all.push({
      export: "proxy_abi_version_0_2_0",
      params: [],
      results: [],
      code: () => [],
    });
  const sigs = [...imports, ...all].map((s) => [
    0x60,
    ...vec(s.params.map((p) => [p])),
    ...vec(s.results.map((r) => [r])),
  ]);
  const index = (n: string): number => {
    const i = imports.findIndex(
      (imp) => `${imp.module}.${imp.name}` === n || imp.name === n,
    );
    if (i >= 0) return i;
    const j = all.findIndex((f) => f.export === n);
    if (j < 0) throw new Error(`no function ${n}`);
    return imports.length + j;
  };
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(sigs)),
    ...section(
      2,
      vec(
        imports.map((imp, i) => [
          ...name(imp.module),
          ...name(imp.name),
          0x00,
          ...uleb(i),
        ]),
      ),
    ),
    ...section(3, vec(all.map((_, j) => uleb(imports.length + j)))),
    ...(memory ? section(5, vec([[0x00, 4]])) : []),
    ...(malloc
      ? section(6, vec([[i32, 0x01, op.i32Const, ...sleb(8192), op.end]]))
      : []),
    ...section(
      7,
      vec([
        ...all.map((f, j) => [
          ...name(f.export),
          0x00,
          ...uleb(imports.length + j),
        ]),
        ...(memory ? [[...name("memory"), 0x02, 0x00]] : []),
      ]),
    ),
    ...section(
      10,
      vec(
        all.map((f) => {
          const body = [0x00, ...f.code(index), op.end];
          return [...uleb(body.length), ...body];
        }),
      ),
    ),
  ];
  return new Uint8Array(bytes);
}

// ----- the probe ------------------------------------------------------------------------------------

/** ABI imports the probe exposes through `t_<name>` trampolines, with their signatures. */
const ABI: Record<string, Sig> = {
  proxy_log: { params: [i32, i32, i32], results: [i32] },
  proxy_get_log_level: { params: [i32], results: [i32] },
  proxy_get_property: { params: [i32, i32, i32, i32], results: [i32] },
  proxy_get_buffer_bytes: { params: [i32, i32, i32, i32, i32], results: [i32] },
  proxy_get_buffer_status: { params: [i32, i32, i32], results: [i32] },
  proxy_get_header_map_value: {
    params: [i32, i32, i32, i32, i32],
    results: [i32],
  },
  proxy_get_header_map_pairs: { params: [i32, i32, i32], results: [i32] },
  proxy_set_header_map_pairs: { params: [i32, i32, i32], results: [i32] },
  proxy_add_header_map_value: {
    params: [i32, i32, i32, i32, i32],
    results: [i32],
  },
  proxy_replace_header_map_value: {
    params: [i32, i32, i32, i32, i32],
    results: [i32],
  },
  proxy_remove_header_map_value: { params: [i32, i32, i32], results: [i32] },
  proxy_get_header_map_size: { params: [i32, i32], results: [i32] },
  proxy_http_call: { params: Array(10).fill(i32), results: [i32] },
  proxy_define_metric: { params: [i32, i32, i32, i32], results: [i32] },
  proxy_increment_metric: { params: [i32, i64], results: [i32] },
  proxy_record_metric: { params: [i32, i64], results: [i32] },
  proxy_get_metric: { params: [i32, i32], results: [i32] },
  proxy_get_current_time_nanoseconds: { params: [i32], results: [i32] },
  proxy_set_tick_period_milliseconds: { params: [i32], results: [i32] },
  proxy_set_effective_context: { params: [i32], results: [i32] },
  proxy_continue_stream: { params: [i32], results: [i32] },
  proxy_send_local_response: { params: Array(8).fill(i32), results: [i32] },
  proxy_done: { params: [], results: [i32] },
};

/** Callback exports of the probe: each calls probe.hook(kind, context id) and answers its result. */
const CALLBACKS: Array<[string, number, boolean]> = [
  // [export, number of params, returns a value]
  ["proxy_on_context_create", 2, false],
  ["proxy_on_vm_start", 2, true],
  ["proxy_on_configure", 2, true],
  ["proxy_on_request_headers", 3, true],
  ["proxy_on_request_body", 3, true],
  ["proxy_on_request_trailers", 2, true],
  ["proxy_on_response_headers", 3, true],
  ["proxy_on_http_call_response", 5, false],
  ["proxy_on_done", 1, true],
  ["proxy_on_log", 1, false],
  ["proxy_on_delete", 1, false],
  ["proxy_on_tick", 1, false],
];

type Hook = (callback: string, args: number[]) => number;

function probeModule(): Uint8Array {
  const imports: ImportDef[] = [
    ...Object.entries(ABI).map(([n, sig]) => ({
      module: "env",
      name: n,
      ...sig,
    })),
    {
      module: "wasi_snapshot_preview1",
      name: "proc_exit",
      params: [i32],
      results: [],
    },
    {
      module: "wasi_snapshot_preview1",
      name: "fd_write",
      params: [i32, i32, i32, i32],
      results: [i32],
    },
    {
      module: "probe",
      name: "hook",
      params: [i32, i32, i32, i32, i32, i32],
      results: [i32],
    },
  ];
  const funcs: FuncDef[] = [
    ...Object.entries(ABI).map(([n, sig]) => ({
      export: `t_${n}`,
      ...sig,
      code: (fn: (n: string) => number) => [
        ...sig.params.flatMap((_, i) => [op.localGet, i]),
        ...[op.call, ...uleb(fn(n))],
      ],
    })),
    ...CALLBACKS.map(([n, arity, returns], k) => ({
      export: n,
      params: Array(arity).fill(i32),
      results: returns ? [i32] : [],
      code: (fn: (n: string) => number) => [
        ...[op.i32Const, ...sleb(k)],
        // hook(kind, arg0..arg4), missing args as 0
        ...[0, 1, 2, 3, 4].flatMap((i) =>
          i < arity ? [op.localGet, i] : [op.i32Const, ...sleb(0)],
        ),
        ...[op.call, ...uleb(fn("hook"))],
        ...(returns ? [] : [op.drop]),
      ],
    })),
    {
      export: "t_fd_write",
      params: [i32, i32, i32, i32],
      results: [i32],
      code: (fn: (n: string) => number) => [
        ...[0, 1, 2, 3].flatMap((i) => [op.localGet, i]),
        ...[op.call, ...uleb(fn("fd_write"))],
      ],
    },
    {
      export: "trap_unreachable",
      params: [],
      results: [],
      code: () => [op.unreachable],
    },
    {
      export: "trap_exit",
      params: [],
      results: [],
      code: (fn) => [
        op.i32Const,
        ...sleb(255),
        op.call,
        ...uleb(fn("proc_exit")),
      ],
    },
  ];
  return wasmModule(imports, funcs);
}

const PROBE = probeModule();

/** A loaded probe: the host, a hook the test sets per case, and helpers for guest memory. */
class Probe {
  hook: Hook = () => 0;
  /** Every callback the host made, in order, with its arguments. */
  readonly calls: Array<[string, number[]]> = [];
  host!: Host;

  static async load(options: HostOptions = {}): Promise<Probe> {
    const p = new Probe();
    p.host = await Host.load(PROBE, {
      ...options,
      imports: {
        probe: {
          hook: (
            kind: number,
            a: number,
            b: number,
            c: number,
            d: number,
            e: number,
          ) => {
            const [cb, arity] = CALLBACKS[kind];
            const args = [a, b, c, d, e].slice(0, arity);
            p.calls.push([cb, args]);
            return p.hook(cb, args);
          },
        },
      },
    });
    return p;
  }

  fn(n: string): (...args: Array<number | bigint>) => number {
    return this.host.exports[`t_${n}`] as (
      ...args: Array<number | bigint>
    ) => number;
  }

  private view(): DataView {
    return new DataView(
      (this.host.exports.memory as WebAssembly.Memory).buffer,
    );
  }

  /** Copies bytes into guest memory; returns [ptr, len]. */
  put(data: string | Uint8Array): [number, number] {
    const b = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    const ptr = (this.host.exports.malloc as (n: number) => number)(
      Math.max(b.length, 1),
    );
    new Uint8Array((this.host.exports.memory as WebAssembly.Memory).buffer).set(
      b,
      ptr,
    );
    return [ptr, b.length];
  }

  /** Two fresh u32 out-slots (pointer, size). */
  out(): [number, number] {
    const p = (this.host.exports.malloc as (n: number) => number)(8);
    this.view().setUint32(p, 0xdeadbeef, true);
    this.view().setUint32(p + 4, 0xdeadbeef, true);
    return [p, p + 4];
  }

  u32(ptr: number): number {
    return this.view().getUint32(ptr, true);
  }

  u64(ptr: number): bigint {
    return this.view().getBigUint64(ptr, true);
  }

  /** Reads what the host returned through (ptr*, size*) out-slots. */
  got([pp, sp]: [number, number]): Buffer {
    const ptr = this.u32(pp);
    const len = this.u32(sp);
    return Buffer.from(
      new Uint8Array(
        (this.host.exports.memory as WebAssembly.Memory).buffer,
        ptr,
        len,
      ),
    );
  }

  /** proxy_get_header_map_value → [result, value]. */
  header(type: number, key: string): [number, string | undefined] {
    const o = this.out();
    const r = this.fn("proxy_get_header_map_value")(
      type,
      ...this.put(key),
      ...o,
    );
    return [r, r === WasmResult.Ok ? this.got(o).toString("utf8") : undefined];
  }

  /** proxy_get_buffer_bytes → [result, bytes]. */
  bufferBytes(
    type: number,
    start: number,
    length: number,
  ): [number, Buffer | undefined] {
    const o = this.out();
    const r = this.fn("proxy_get_buffer_bytes")(type, start, length, ...o);
    return [
      r,
      r === WasmResult.Ok && this.u32(o[1]) !== 0xdeadbeef
        ? this.got(o)
        : undefined,
    ];
  }

  /** proxy_http_call with these headers → [result, token]. */
  httpCall(
    cluster: string,
    headers: HeaderMap,
    body = "",
    timeoutMs = 1000,
  ): [number, number] {
    const [tp] = this.out();
    const trailers = serializePairs([]);
    const r = this.fn("proxy_http_call")(
      ...this.put(cluster),
      ...this.put(serializePairs(headers.entries)),
      ...this.put(body),
      ...this.put(trailers),
      timeoutMs,
      tp,
    );
    return [r, this.u32(tp)];
  }

  define(type: number, metric: string): [number, number] {
    const [ip] = this.out();
    const r = this.fn("proxy_define_metric")(type, ...this.put(metric), ip);
    return [r, this.u32(ip)];
  }

  log(level: number, message: string): number {
    return this.fn("proxy_log")(level, ...this.put(message));
  }
}

/** A module with the given env imports (all void → i32) and a malloc; nothing else. */
function moduleImporting(names: Array<[string, Sig]>, opts = {}): Uint8Array {
  return wasmModule(
    names.map(([n, sig]) => {
      const [module, field] = n.includes(".") ? n.split(".") : ["env", n];
      return { module, name: field, ...sig };
    }),
    [],
    opts,
  );
}

const REQUEST = [
  [":method", "GET"],
  [":path", "/orders/1"],
  [":authority", "kitchen"],
  ["X-Request-Id", "r-1"],
  ["cookie", "a=1"],
  ["cookie", "b=2"],
] as const;

// ----- the tests ------------------------------------------------------------------------------------

describe("emulator: linking", () => {
  it("fails loudly, naming them, on imports it does not implement", async () => {
    const wasm = moduleImporting([
      ["proxy_log", ABI.proxy_log],
      ["proxy_grpc_call", { params: Array(10).fill(i32), results: [i32] }],
      ["proxy_get_shared_data", { params: Array(5).fill(i32), results: [i32] }],
      [
        "wasi_snapshot_preview1.clock_time_get",
        { params: [i32, i64, i32], results: [i32] },
      ],
    ]);
    await assert.rejects(Host.load(wasm), (e: Error) => {
      assert.match(e.message, /env\.proxy_grpc_call/);
      assert.match(e.message, /env\.proxy_get_shared_data/);
      assert.match(e.message, /wasi_snapshot_preview1\.clock_time_get/);
      assert.doesNotMatch(e.message, /proxy_log/);
      return true;
    });
  });

  it("refuses an ABI import declared with the wrong signature", async () => {
    const wasm = moduleImporting([
      ["proxy_log", { params: [i32, i32], results: [i32] }],
    ]);
    await assert.rejects(Host.load(wasm), /wrong signature: env\.proxy_log/);
  });

  it("refuses a module without malloc, memory or the ABI version export", async () => {
    await assert.rejects(
      Host.load(moduleImporting([], { malloc: false })),
      /malloc/,
    );
    await assert.rejects(
      Host.load(moduleImporting([], { abi: false })),
      /proxy_abi_version/,
    );
    await assert.rejects(
      Host.load(moduleImporting([], { memory: false, malloc: false })),
      /memory/,
    );
  });

  it("links the probe, which imports every ABI function the emulator implements", async () => {
    const p = await Probe.load();
    assert.equal(p.host.trapped.length, 0);
  });
});

describe("emulator: serialization", () => {
  it("round-trips header pairs in the ABI layout", () => {
    const entries: Array<[string, Buffer]> = [
      [":path", Buffer.from("/")],
      ["x-empty", Buffer.alloc(0)],
      ["x-utf8", Buffer.from("日本é")],
    ];
    const bytes = serializePairs(entries);
    assert.equal(bytes.readUInt32LE(0), 3);
    assert.equal(bytes.readUInt32LE(4), 5); // ":path"
    assert.equal(bytes.readUInt32LE(8), 1); // "/"
    assert.equal(bytes.subarray(28, 28 + 8).toString("latin1"), ":path\0/\0");
    assert.deepEqual(parsePairs(bytes), entries);
    assert.deepEqual(parsePairs(new Uint8Array(0)), []);
  });

  it("reports malformed pairs instead of guessing", () => {
    const good = serializePairs([["a", Buffer.from("b")]]);
    assert.match(
      String(parsePairs(good.subarray(0, good.length - 1))),
      /past the end/,
    );
    const noNul = Buffer.from(good);
    noNul[noNul.length - 1] = 0x41;
    assert.match(String(parsePairs(noNul)), /NUL/);
    assert.match(
      String(parsePairs(Buffer.concat([good, Buffer.from([0])]))),
      /trailing/,
    );
    assert.match(String(parsePairs(Buffer.from([9, 0, 0, 0]))), /does not fit/);
  });

  it("keeps header names lowercase and values as bytes, in order", () => {
    const m = new HeaderMap(REQUEST);
    assert.deepEqual(m.getAll("COOKIE"), ["a=1", "b=2"]);
    assert.equal(m.get("x-request-id"), "r-1");
    m.set("cookie", "c=3");
    assert.deepEqual(m.names().slice(-1), ["cookie"]);
    assert.deepEqual(m.getAll("cookie"), ["c=3"]);
    assert.equal(
      m.byteSize(),
      m.entries.reduce((n, [k, v]) => n + k.length + v.length, 0),
    );
  });
});

describe("emulator: contexts and configuration", () => {
  it("creates root context 1 with context_create, vm_start and configure, in order", async () => {
    const p = await Probe.load({ vmConfiguration: "vm" });
    let seen: Array<[number, string | undefined]> = [];
    p.hook = (cb) => {
      if (cb === "proxy_on_vm_start" || cb === "proxy_on_configure") {
        const [r, v] = p.bufferBytes(BufferType.PluginConfiguration, 0, 100);
        seen.push([r, v?.toString()]);
        return 1;
      }
      return 0;
    };
    assert.equal(p.host.configure('{"a":1}'), true);
    assert.deepEqual(p.calls, [
      ["proxy_on_context_create", [1, 0]],
      ["proxy_on_vm_start", [1, 2]],
      ["proxy_on_configure", [1, 7]],
    ]);
    assert.deepEqual(seen, [
      [WasmResult.Ok, '{"a":1}'],
      [WasmResult.Ok, '{"a":1}'],
    ]);
    assert.equal(p.host.rootContextId, 1);

    // Outside configuration the plugin configuration is gone (Envoy's temp_plugin_).
    seen = [];
    p.hook = (cb) => {
      if (cb === "proxy_on_request_headers") {
        seen.push(
          p.bufferBytes(BufferType.PluginConfiguration, 0, 100) as never,
        );
        const [r, v] = p.bufferBytes(BufferType.VmConfiguration, 0, 100);
        seen.push([r, v?.toString()]);
      }
      return 0;
    };
    p.host.stream().requestHeaders(REQUEST, true);
    assert.deepEqual(seen, [
      [WasmResult.NotFound, undefined],
      [WasmResult.Ok, "vm"],
    ]);
  });

  it("passes an empty configuration as size 0, and a refused config keeps the old root", async () => {
    const p = await Probe.load();
    p.hook = (cb) =>
      cb === "proxy_on_configure" || cb === "proxy_on_vm_start" ? 1 : 0;
    assert.equal(p.host.configure(null), true);
    assert.deepEqual(p.calls.at(-1), ["proxy_on_configure", [1, 0]]);
    p.hook = (cb) => (cb === "proxy_on_configure" ? 0 : 1);
    assert.equal(p.host.configure("{}"), false);
    assert.equal(p.host.rootContextId, 1);
    p.hook = (cb) =>
      cb === "proxy_on_configure" || cb === "proxy_on_vm_start" ? 1 : 0;
    assert.equal(p.host.configure("{}"), true);
    assert.equal(p.host.rootContextId, 3);
    const s = p.host.stream();
    assert.deepEqual(p.calls.at(-1), ["proxy_on_context_create", [4, 3]]);
    assert.equal(s.rootId, 3);
  });

  it("answers plugin_root_id, plugin_name and set properties; NotFound otherwise", async () => {
    const p = await Probe.load({
      rootId: "mirror",
      pluginName: "mirror-plugin",
    });
    p.host.setProperty(["node", "id"], "n1");
    const prop = (path: string): [number, string | undefined] => {
      const o = p.out();
      const r = p.fn("proxy_get_property")(...p.put(path), ...o);
      return [r, r === 0 ? p.got(o).toString() : undefined];
    };
    let got: Array<[number, string | undefined]> = [];
    p.hook = (cb) => {
      if (cb === "proxy_on_context_create") {
        got = [
          prop("plugin_root_id"),
          prop("plugin_name"),
          prop("node\0id"),
          prop("nope"),
        ];
      }
      return 1;
    };
    p.host.configure("{}");
    assert.deepEqual(got, [
      [WasmResult.Ok, "mirror"],
      [WasmResult.Ok, "mirror-plugin"],
      [WasmResult.Ok, "n1"],
      [WasmResult.NotFound, undefined],
    ]);
  });

  it("tears a stream down with done, log, delete and refuses callbacks after it", async () => {
    const p = await Probe.load();
    p.hook = () => 1;
    p.host.configure("{}");
    const s = p.host.stream();
    s.done();
    assert.deepEqual(
      p.calls.slice(-3).map(([cb]) => cb),
      ["proxy_on_done", "proxy_on_log", "proxy_on_delete"],
    );
    assert.equal(s.deleted, true);
    assert.equal(p.host.hasContext(s.id), false);
    assert.throws(
      () => s.requestHeaders(REQUEST),
      /after the stream was deleted/,
    );
  });
});

describe("emulator: header maps and bodies", () => {
  it("serves the request headers only during their callback, like Envoy", async () => {
    const p = await Probe.load();
    p.hook = () => 1;
    p.host.configure("{}");
    const s = p.host.stream();
    const seen: Record<string, unknown> = {};
    p.hook = (cb, args) => {
      if (cb === "proxy_on_request_headers") {
        seen.count = args[1];
        seen.path = p.header(HeaderMapType.RequestHeaders, ":path");
        seen.upper = p.header(HeaderMapType.RequestHeaders, "X-REQUEST-ID");
        seen.cookie = p.header(HeaderMapType.RequestHeaders, "cookie");
        seen.absent = p.header(HeaderMapType.RequestHeaders, "x-absent");
        seen.response = p.header(HeaderMapType.ResponseHeaders, ":status");
        const o = p.out();
        seen.pairs = [
          p.fn("proxy_get_header_map_pairs")(
            HeaderMapType.RequestHeaders,
            ...o,
          ),
        ];
        seen.parsed = parsePairs(p.got(o));
        const [sp] = p.out();
        seen.size = [
          p.fn("proxy_get_header_map_size")(HeaderMapType.RequestHeaders, sp),
          p.u32(sp),
        ];
      }
      if (cb === "proxy_on_request_body") {
        seen.later = p.header(HeaderMapType.RequestHeaders, ":path");
        seen.laterRemove = p.fn("proxy_remove_header_map_value")(
          HeaderMapType.RequestHeaders,
          ...p.put("cookie"),
        );
      }
      return 0;
    };
    assert.equal(s.requestHeaders(REQUEST, false), 0);
    s.requestBody("x", true);
    assert.equal(seen.count, REQUEST.length);
    assert.deepEqual(seen.path, [WasmResult.Ok, "/orders/1"]);
    assert.deepEqual(seen.upper, [WasmResult.Ok, "r-1"]);
    assert.deepEqual(seen.cookie, [WasmResult.Ok, "a=1"]);
    assert.deepEqual(seen.absent, [WasmResult.NotFound, undefined]);
    assert.deepEqual(seen.response, [WasmResult.BadArgument, undefined]);
    assert.deepEqual(seen.pairs, [WasmResult.Ok]);
    assert.deepEqual(seen.parsed, new HeaderMap(REQUEST).entries);
    assert.deepEqual(seen.size, [
      WasmResult.Ok,
      new HeaderMap(REQUEST).byteSize(),
    ]);
    assert.deepEqual(seen.later, [WasmResult.BadArgument, undefined]);
    assert.equal(seen.laterRemove, WasmResult.BadArgument);
    assert.deepEqual(s.request.headers.getAll("cookie"), ["a=1", "b=2"]);
  });

  it("applies add, replace, remove and set_pairs to the live map and records each", async () => {
    const p = await Probe.load();
    p.hook = () => 1;
    p.host.configure("{}");
    const s = p.host.stream();
    const results: number[] = [];
    p.hook = (cb) => {
      if (cb !== "proxy_on_request_headers") return 0;
      const t = HeaderMapType.RequestHeaders;
      results.push(
        p.fn("proxy_add_header_map_value")(
          t,
          ...p.put("X-Added"),
          ...p.put("1"),
        ),
      );
      results.push(
        p.fn("proxy_replace_header_map_value")(
          t,
          ...p.put("cookie"),
          ...p.put("c"),
        ),
      );
      results.push(
        p.fn("proxy_remove_header_map_value")(t, ...p.put("x-request-id")),
      );
      results.push(
        p.fn("proxy_remove_header_map_value")(t, ...p.put("x-never")),
      );
      return 0;
    };
    s.requestHeaders(REQUEST, true);
    assert.deepEqual(results, [0, 0, 0, 0]);
    assert.equal(s.request.headers.get("x-added"), "1");
    assert.deepEqual(s.request.headers.getAll("cookie"), ["c"]);
    assert.equal(s.request.headers.has("x-request-id"), false);
    assert.deepEqual(
      s.mutations.map((m) => [m.op, m.name, m.callback]),
      [
        ["add", "x-added", "proxy_on_request_headers"],
        ["replace", "cookie", "proxy_on_request_headers"],
        ["remove", "x-request-id", "proxy_on_request_headers"],
        ["remove", "x-never", "proxy_on_request_headers"],
      ],
    );

    const s2 = p.host.stream();
    p.hook = (cb) => {
      if (cb === "proxy_on_request_headers") {
        const pairs = serializePairs([["only", Buffer.from("this")]]);
        results.push(
          p.fn("proxy_set_header_map_pairs")(
            HeaderMapType.RequestHeaders,
            ...p.put(pairs),
          ),
        );
        results.push(
          p.fn("proxy_set_header_map_pairs")(
            HeaderMapType.RequestHeaders,
            ...p.put(pairs.subarray(0, 9)),
          ),
        );
      }
      return 0;
    };
    s2.requestHeaders(REQUEST, true);
    assert.deepEqual(results.slice(-2), [
      WasmResult.Ok,
      WasmResult.BadArgument,
    ]);
    assert.deepEqual(s2.request.headers.pairs(), [["only", "this"]]);
    assert.equal(p.host.violations.length, 1);
    assert.match(p.host.violations[0], /proxy_set_header_map_pairs/);
  });

  it("serves each body chunk during its callback, sliced and clipped", async () => {
    const p = await Probe.load();
    p.hook = () => 1;
    p.host.configure("{}");
    const s = p.host.stream();
    const seen: unknown[] = [];
    p.hook = (cb, args) => {
      if (cb === "proxy_on_request_body") {
        const [lp, fp] = p.out();
        const st = p.fn("proxy_get_buffer_status")(
          BufferType.HttpRequestBody,
          lp,
          fp,
        );
        seen.push([args[1], args[2], st, p.u32(lp)]);
        seen.push(
          p.bufferBytes(BufferType.HttpRequestBody, 0, args[1]).map(String),
        );
        seen.push(
          p.bufferBytes(BufferType.HttpRequestBody, 2, 100).map(String),
        );
        seen.push(p.bufferBytes(BufferType.HttpRequestBody, 5, 1).map(String));
        seen.push(p.bufferBytes(99, 0, 1)[0]);
      }
      return 0;
    };
    s.requestHeaders(REQUEST, false);
    s.requestBody("hello", false);
    s.requestBody("", true);
    // An empty slice (start at or past the end) answers Ok with pointer 0 and size 0.
    assert.deepEqual(seen, [
      [5, 0, WasmResult.Ok, 5],
      ["0", "hello"],
      ["0", "llo"],
      ["0", ""],
      WasmResult.BadArgument,
      [0, 1, WasmResult.Ok, 0],
      ["0", ""],
      ["0", ""],
      ["0", ""],
      WasmResult.BadArgument,
    ]);
    assert.equal(p.host.violations.length, 0);
    assert.equal(s.request.body.toString(), "hello");
    assert.equal(s.request.ended, true);
  });
});

describe("emulator: HTTP calls", () => {
  const copy = new HeaderMap([
    [":method", "GET"],
    [":path", "/x"],
    [":authority", "dark"],
  ]);

  it("records a call, owned by the effective context, and delivers its response", async () => {
    const p = await Probe.load();
    p.hook = () => 1;
    p.host.configure("{}");
    const s = p.host.stream();
    let dispatched: [number, number] = [0, 0];
    let effective = -1;
    p.hook = (cb) => {
      if (cb === "proxy_on_request_headers") {
        effective = p.fn("proxy_set_effective_context")(1);
        dispatched = p.httpCall("dark", copy, "body", 250);
      }
      return 0;
    };
    p.host.setTimeMs(1000);
    s.requestHeaders(REQUEST, true);
    s.done();
    assert.equal(effective, WasmResult.Ok);
    assert.equal(dispatched[0], WasmResult.Ok);
    const [call] = p.host.httpCalls;
    assert.equal(call.token, dispatched[1]);
    assert.equal(call.contextId, 1, "dispatched for the root context");
    assert.equal(call.dispatchedIn, "proxy_on_request_headers");
    assert.equal(call.cluster, "dark");
    assert.deepEqual(call.headers.pairs(), copy.pairs());
    assert.equal(call.body.toString(), "body");
    assert.equal(call.timeoutMs, 250);
    assert.equal(call.dispatchedAtNs, 1000n * 1_000_000n);
    assert.equal(call.state, "pending");

    const seen: unknown[] = [];
    p.hook = (cb, args) => {
      if (cb === "proxy_on_http_call_response") {
        seen.push(args);
        seen.push(p.header(HeaderMapType.HttpCallResponseHeaders, ":status"));
        seen.push(p.header(HeaderMapType.HttpCallResponseHeaders, "x-dark"));
        seen.push(
          p.header(
            HeaderMapType.HttpCallResponseHeaders,
            "x-envoy-upstream-service-time",
          ),
        );
        seen.push(
          p.bufferBytes(BufferType.HttpCallResponseBody, 0, 100).map(String),
        );
        const [sp] = p.out();
        seen.push(
          p.fn("proxy_get_header_map_size")(
            HeaderMapType.HttpCallResponseHeaders,
            sp,
          ),
        );
      }
      return 0;
    };
    p.host.advance(42);
    p.host.respond(call.token, {
      status: 503,
      headers: { "x-dark": "1" },
      body: "nope",
    });
    // Envoy's router adds x-envoy-upstream-service-time to an upstream's response.
    assert.deepEqual(seen, [
      [1, call.token, 3, 4, 0],
      [WasmResult.Ok, "503"],
      [WasmResult.Ok, "1"],
      [WasmResult.Ok, "42"],
      ["0", "nope"],
      WasmResult.BadArgument,
    ]);
    assert.equal(call.state, "completed");
    assert.deepEqual(call.response?.headers.pairs(), [
      [":status", "503"],
      ["x-dark", "1"],
      ["x-envoy-upstream-service-time", "42"],
    ]);
    assert.throws(() => p.host.respond(call.token), /already completed/);
  });

  it("answers like Envoy's own local replies, without upstream headers", async () => {
    const p = await Probe.load();
    p.hook = () => 1;
    p.host.configure("{}");
    p.hook = (cb) => {
      if (cb === "proxy_on_request_headers") {
        p.httpCall("dark", copy);
        p.httpCall("dark", copy);
        p.httpCall("dark", copy);
      }
      return 0;
    };
    p.host.stream().requestHeaders(REQUEST, true);
    const [a, b, c] = p.host.httpCalls;
    p.host.respondTimeout(a);
    p.host.respondLocal(b, 503, "no healthy upstream");
    p.host.respond(c, { status: 204, envoyHeaders: false });
    assert.deepEqual(a.response?.headers.pairs(), [
      [":status", "504"],
      ["content-length", "24"],
      ["content-type", "text/plain"],
    ]);
    assert.equal(a.response?.body.toString(), "upstream request timeout");
    assert.equal(b.response?.headers.get(":status"), "503");
    assert.equal(
      b.response?.headers.has("x-envoy-upstream-service-time"),
      false,
    );
    assert.deepEqual(c.response?.headers.pairs(), [[":status", "204"]]);
  });

  it("resets with zero headers and no response maps", async () => {
    const p = await Probe.load();
    p.hook = () => 1;
    p.host.configure("{}");
    let token = 0;
    p.hook = (cb) => {
      if (cb === "proxy_on_request_headers") {
        p.fn("proxy_set_effective_context")(1);
        token = p.httpCall("dark", copy)[1];
      }
      return 0;
    };
    p.host.stream().requestHeaders(REQUEST, true);
    const seen: unknown[] = [];
    p.hook = (cb, args) => {
      if (cb === "proxy_on_http_call_response") {
        seen.push(args);
        seen.push(
          p.header(HeaderMapType.HttpCallResponseHeaders, ":status")[0],
        );
        seen.push(p.bufferBytes(BufferType.HttpCallResponseBody, 0, 1)[0]);
      }
      return 0;
    };
    p.hook = (cb, args) => {
      if (cb === "proxy_on_http_call_response") {
        seen.push(args);
        seen.push(
          p.header(HeaderMapType.HttpCallResponseHeaders, ":status")[0],
        );
        seen.push(p.bufferBytes(BufferType.HttpCallResponseBody, 0, 1)[0]);
        const o = p.out();
        seen.push(
          p.fn("proxy_get_header_map_pairs")(
            HeaderMapType.HttpCallResponseHeaders,
            ...o,
          ),
        );
        seen.push([p.u32(o[0]), p.u32(o[1])]);
      }
      return 0;
    };
    p.host.respondReset(token);
    assert.deepEqual(seen, [
      [1, token, 0, 0, 0],
      WasmResult.BadArgument,
      WasmResult.NotFound,
      WasmResult.Ok, // an absent map reads as empty: pointer 0, size 0
      [0, 0],
    ]);
    assert.equal(p.host.httpCalls[0].state, "reset");
  });

  it("gives a call made in a stream callback to the root; retiring the root cancels it", async () => {
    const p = await Probe.load();
    p.hook = () => 1;
    p.host.configure("{}");
    const s = p.host.stream();
    p.hook = (cb) => {
      if (cb === "proxy_on_request_headers") p.httpCall("dark", copy);
      return 0;
    };
    s.requestHeaders(REQUEST, true);
    s.done();
    const [call] = p.host.httpCalls;
    assert.equal(call.contextId, 1);
    assert.equal(call.state, "pending");
    p.host.retireRoot(1);
    assert.equal(call.state, "cancelled");
    assert.throws(() => p.host.respond(call.token), /cancelled/);
    assert.deepEqual(
      p.calls.slice(-2).map(([cb, args]) => [cb, args[0]]),
      [
        ["proxy_on_done", 1],
        ["proxy_on_delete", 1],
      ],
    );
  });

  it("numbers tokens per root context, from 1, as Envoy does", async () => {
    const p = await Probe.load();
    p.hook = () => 1;
    p.host.configure("{}");
    p.hook = (cb) => {
      if (cb === "proxy_on_request_headers") p.httpCall("dark", copy);
      return 0;
    };
    p.host.stream().requestHeaders(REQUEST, true);
    p.host.stream().requestHeaders(REQUEST, true);
    p.hook = () => 1;
    p.host.configure("{}");
    p.hook = (cb) => {
      if (cb === "proxy_on_request_headers") p.httpCall("dark", copy);
      return 0;
    };
    p.host.stream().requestHeaders(REQUEST, true);
    assert.deepEqual(
      p.host.httpCalls.map((c) => [c.contextId, c.token]),
      [
        [1, 1],
        [1, 2],
        [4, 1],
      ],
    );
    assert.throws(() => p.host.respond(1), /pass the HttpCall/);
    p.host.respond(p.host.httpCalls[2], { status: 204 });
    assert.deepEqual(p.calls.at(-1), [
      "proxy_on_http_call_response",
      [4, 1, 2, 0, 0],
    ]);
    p.host.respond(1);
    assert.deepEqual(p.calls.at(-1), [
      "proxy_on_http_call_response",
      [1, 1, 2, 0, 0],
    ]);
  });

  it("refuses unknown clusters, unhealthy ones and copies without pseudo-headers", async () => {
    const p = await Probe.load({
      clusters: { dark: "healthy", sick: "no_healthy_host" },
    });
    p.hook = () => 1;
    p.host.configure("{}");
    const results: number[] = [];
    p.hook = (cb) => {
      if (cb === "proxy_on_request_headers") {
        results.push(p.httpCall("unknown", copy)[0]);
        results.push(p.httpCall("sick", copy)[0]);
        const noAuthority = copy.clone();
        noAuthority.remove(":authority");
        results.push(p.httpCall("dark", noAuthority)[0]);
        results.push(p.httpCall("dark", copy, "", -1)[0]);
        results.push(p.httpCall("dark", copy)[0]);
      }
      return 0;
    };
    p.host.stream().requestHeaders(REQUEST, true);
    assert.deepEqual(results, [
      WasmResult.BadArgument,
      WasmResult.InternalFailure,
      WasmResult.BadArgument,
      WasmResult.BadArgument,
      WasmResult.Ok,
    ]);
    assert.equal(p.host.httpCalls.length, 1);
    assert.deepEqual(
      p.host.rejectedHttpCalls.map((c) => [c.cluster, c.result]),
      [
        ["unknown", 2],
        ["sick", 10],
        ["dark", 2],
        ["dark", 2],
      ],
    );
    p.host.setCluster("dark", "missing");
    p.host.stream().requestHeaders(REQUEST, true);
    assert.equal(results.at(-1), WasmResult.BadArgument);
  });
});

describe("emulator: metrics, logs, time", () => {
  it("defines metrics with Envoy's ids and applies Envoy's rules", async () => {
    const p = await Probe.load();
    const r: unknown[] = [];
    p.hook = (cb) => {
      if (cb !== "proxy_on_configure") return 1;
      const [, c] = p.define(MetricType.Counter, "m.c");
      const [, g] = p.define(MetricType.Gauge, "m.g");
      const [, h] = p.define(MetricType.Histogram, "m.h");
      r.push([c, g, h]);
      r.push(p.define(MetricType.Counter, "m.c")); // same stat, new id
      r.push(p.define(MetricType.Gauge, "m.c")[0]);
      r.push(p.define(3, "m.x")[0]);
      const inc = p.fn("proxy_increment_metric");
      const rec = p.fn("proxy_record_metric");
      r.push([
        inc(c, 2n),
        inc(c, 0n),
        inc(c, -1n),
        inc(g, 3n),
        inc(g, -1n),
        inc(h, 1n),
      ]);
      r.push([rec(h, 7n), rec(h, 9n), rec(g, 10n), rec(c, 5n), inc(400, 1n)]);
      const [vp] = p.out();
      r.push([
        p.fn("proxy_get_metric")(c, vp),
        p.u64(vp),
        p.fn("proxy_get_metric")(h, vp),
      ]);
      return 1;
    };
    p.host.configure("{}");
    assert.deepEqual(r, [
      [4, 5, 6],
      [0, 8],
      WasmResult.BadArgument,
      WasmResult.BadArgument,
      [0, 2, 2, 0, 0, 2],
      [0, 0, 0, 0, 1],
      [0, 7n, 2],
    ]);
    assert.deepEqual(p.host.metrics(), { "m.c": 7, "m.g": 10, "m.h": [7, 9] });
    assert.equal(p.host.counter("m.c"), 7);
    assert.equal(p.host.gauge("m.g"), 10);
    assert.deepEqual(p.host.histogram("m.h"), [7, 9]);
    assert.throws(() => p.host.counter("m.g"), /is a gauge/);
    assert.throws(() => p.host.counter("m.none"), /never defined/);
  });

  it("keeps logs at or above its level, by level and context", async () => {
    const p = await Probe.load({ logLevel: "debug" });
    const r: number[] = [];
    p.hook = (cb, args) => {
      if (cb !== "proxy_on_configure") return 1;
      r.push(p.log(LogLevel.trace, "dropped"));
      r.push(p.log(LogLevel.debug, "d"));
      r.push(p.log(LogLevel.error, "invalid plugin config: x: y"));
      r.push(p.log(9, "bad level"));
      const [lp] = p.out();
      p.fn("proxy_get_log_level")(lp);
      r.push(p.u32(lp));
      r.push(args[0]);
      return 1;
    };
    p.host.configure("{}");
    assert.deepEqual(r, [0, 0, 0, WasmResult.BadArgument, LogLevel.debug, 1]);
    assert.deepEqual(
      p.host.logs().map((l) => [l.level, l.message, l.contextId, l.callback]),
      [
        [1, "d", 1, "proxy_on_configure"],
        [4, "invalid plugin config: x: y", 1, "proxy_on_configure"],
      ],
    );
    assert.deepEqual(
      p.host.logs("error").map((l) => l.message),
      ["invalid plugin config: x: y"],
    );
    assert.equal(p.host.logsAtLeast("warn").length, 1);
    assert.equal(p.host.violations.length, 1);
  });

  it("logs WASI fd_write as Envoy does: stdout at info, stderr at error", async () => {
    const p = await Probe.load();
    const r: number[] = [];
    p.hook = (cb) => {
      if (cb !== "proxy_on_configure") return 1;
      const write = p.host.exports.t_fd_write as (...a: number[]) => number;
      for (const [fd, text] of [
        [1, "out\n"],
        [2, "err"],
        [3, "bad fd"],
      ] as const) {
        const [ptr, len] = p.put(text);
        const [iov] = p.put(new Uint8Array(8));
        const [nw] = p.out();
        const dv = new DataView(
          (p.host.exports.memory as WebAssembly.Memory).buffer,
        );
        dv.setUint32(iov, ptr, true);
        dv.setUint32(iov + 4, len, true);
        r.push(write(fd, iov, 1, nw), p.u32(nw));
      }
      return 1;
    };
    p.host.configure("{}");
    assert.deepEqual(r, [0, 4, 0, 3, 8, 0xdeadbeef]);
    assert.equal(p.host.stdout, "out\n");
    assert.equal(p.host.stderr, "err");
    assert.deepEqual(
      p.host.logs().map((l) => [l.level, l.message]),
      [
        [LogLevel.info, "out"],
        [LogLevel.error, "err"],
      ],
    );
  });

  it("reports its clock and records the tick period of a root context", async () => {
    const p = await Probe.load({ nowMs: 5 });
    const r: unknown[] = [];
    p.hook = (cb) => {
      if (cb === "proxy_on_configure") {
        const [tp] = p.out();
        p.fn("proxy_get_current_time_nanoseconds")(tp);
        r.push(p.u64(tp));
        r.push(p.fn("proxy_set_tick_period_milliseconds")(1000));
      }
      if (cb === "proxy_on_tick") {
        const [tp] = p.out();
        p.fn("proxy_get_current_time_nanoseconds")(tp);
        r.push(p.u64(tp));
      }
      return 1;
    };
    p.host.configure("{}");
    p.host.advance(1.5);
    p.host.tick();
    assert.deepEqual(r, [5_000_000n, 0, 6_500_000n]);
    assert.equal(p.host.tickPeriods.get(1), 1000);
  });
});

describe("emulator: traps", () => {
  it("records an unreachable trap, throws it, and fails the VM afterwards", async () => {
    const p = await Probe.load();
    p.hook = (cb) => {
      if (cb === "proxy_on_request_headers") {
        p.log(LogLevel.critical, "abort: boom at filter.ts:1");
        (p.host.exports.trap_unreachable as () => void)();
      }
      return 1;
    };
    p.host.configure("{}");
    const s = p.host.stream();
    assert.throws(
      () => s.requestHeaders(REQUEST, true),
      (e: unknown) => e instanceof GuestTrap && /unreachable/.test(e.message),
    );
    assert.equal(p.host.trapped.length, 1);
    assert.equal(p.host.trapped[0].callback, "proxy_on_request_headers");
    assert.equal(p.host.trapped[0].contextId, s.id);
    assert.equal(p.host.trapped[0].lastCritical, "abort: boom at filter.ts:1");
    assert.throws(() => s.done(), /failed earlier/);
  });

  it("records proc_exit as a trap with its code", async () => {
    const p = await Probe.load();
    p.hook = (cb) => {
      if (cb === "proxy_on_configure")
        (p.host.exports.trap_exit as () => void)();
      return 1;
    };
    assert.throws(() => p.host.configure("{}"), GuestTrap);
    assert.deepEqual(p.host.exits, [255]);
    assert.equal(p.host.trapped[0].exitCode, 255);
    assert.equal(p.host.trapped[0].callback, "proxy_on_configure");
  });

  it("lets an emulator error through unchanged (not as a trap)", async () => {
    const p = await Probe.load();
    p.hook = () => {
      throw new TypeError("test bug");
    };
    assert.throws(() => p.host.configure("{}"), TypeError);
    assert.equal(p.host.trapped.length, 0);
  });

  it("flags a pointer outside memory as a violation and InvalidMemoryAccess", async () => {
    const p = await Probe.load();
    let r = -1;
    p.hook = (cb) => {
      if (cb === "proxy_on_configure")
        r = p.fn("proxy_log")(LogLevel.info, 0x7fff_fff0, 64);
      return 1;
    };
    p.host.configure("{}");
    assert.equal(r, WasmResult.InvalidMemoryAccess);
    assert.match(p.host.violations[0], /outside memory/);
  });
});

const MIRROR = RELEASE_WASM;

describe("emulator: build/mirror.wasm plumbing", () => {
  it("links every import of the release build and runs a stream without trapping", async () => {
    assert.ok(
      existsSync(MIRROR),
      "build/mirror.wasm is missing: run `npm run build`",
    );
    const host = await Host.load(MIRROR, { rootId: "mirror" });
    assert.equal(
      host.configure(JSON.stringify({ cluster: "dark", percentage: 100 })),
      true,
    );
    const s = host.stream();
    assert.equal(s.requestHeaders(REQUEST, true), 0);
    assert.equal(s.responseHeaders([[":status", "200"]], true), 0);
    s.done();
    for (const call of host.pendingCalls())
      host.respond(call.token, { status: 200 });
    assert.deepEqual(host.trapped, []);
    assert.deepEqual(host.violations, []);
  });
});
