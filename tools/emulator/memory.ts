/**
 * The module's linear memory as host functions see it: bounds-checked reads and writes, and bytes
 * handed back to the guest through its own `malloc`, as proxy-wasm-cpp-host does. Out-of-bounds
 * access is reported as an ABI violation, never thrown into the guest.
 */
import { WasmResult } from "./abi.ts";

export class GuestMemory {
  private viewsOf: ArrayBuffer | null = null;
  private cachedViews: { u8: Buffer; dv: DataView } | null = null;

  /**
   * `malloc` is the module's allocator; `onViolation` receives each misuse; `onMalloc` counts the
   * host's calls into the module's allocator.
   */
  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly malloc: (size: number) => number,
    private readonly onViolation: (message: string) => void,
    private readonly onMalloc: () => void,
  ) {}

  /** Size of the linear memory, bytes. */
  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /** Views of memory, renewed whenever memory grows (growing replaces the ArrayBuffer). */
  private views(): { u8: Buffer; dv: DataView } {
    const b = this.memory.buffer;
    if (this.viewsOf !== b) {
      this.viewsOf = b;
      this.cachedViews = { u8: Buffer.from(b), dv: new DataView(b) };
    }
    return this.cachedViews!;
  }

  private inBounds(ptr: number, len: number): boolean {
    return ptr >= 0 && len >= 0 && ptr + len <= this.views().u8.length;
  }

  /** A copy of guest bytes (for what is recorded), or null (and a violation) if out of bounds. */
  read(ptr: number, len: number, what: string): Buffer | null {
    const v = this.peek(ptr, len, what);
    return v === null ? null : Buffer.from(v);
  }

  /** A view of guest bytes, valid until the guest runs again; null if out of bounds. */
  peek(ptr: number, len: number, what: string): Buffer | null {
    ptr >>>= 0;
    len >>>= 0;
    if (!this.inBounds(ptr, len)) {
      this.onViolation(`${what}: [${ptr}, +${len}) is outside memory`);
      return null;
    }
    return this.views().u8.subarray(ptr, ptr + len);
  }

  writeU32(ptr: number, v: number, what: string): boolean {
    ptr >>>= 0;
    if (!this.inBounds(ptr, 4)) {
      this.onViolation(`${what}: u32 at ${ptr} is outside memory`);
      return false;
    }
    this.views().dv.setUint32(ptr, v >>> 0, true);
    return true;
  }

  writeU64(ptr: number, v: bigint, what: string): boolean {
    ptr >>>= 0;
    if (!this.inBounds(ptr, 8)) {
      this.onViolation(`${what}: u64 at ${ptr} is outside memory`);
      return false;
    }
    this.views().dv.setBigUint64(ptr, BigInt.asUintN(64, v), true);
    return true;
  }

  /**
   * Returns bytes to the guest as proxy-wasm-cpp-host's copyToPointerSize does: malloc(size) in
   * the guest (nothing for an empty value: pointer 0), copy, write pointer and size.
   */
  copyOut(
    data: Uint8Array,
    ptrPtr: number,
    sizePtr: number,
    what: string,
  ): number {
    let ptr = 0;
    if (data.length > 0) {
      this.onMalloc();
      ptr = this.malloc(data.length) >>> 0;
      // malloc may have grown memory: every view is taken afresh below.
      if (ptr === 0 || !this.inBounds(ptr, data.length)) {
        this.onViolation(`${what}: malloc(${data.length}) returned ${ptr}`);
        return WasmResult.InvalidMemoryAccess;
      }
      this.views().u8.set(data, ptr);
    }
    if (
      !this.writeU32(ptrPtr, ptr, what) ||
      !this.writeU32(sizePtr, data.length, what)
    ) {
      return WasmResult.InvalidMemoryAccess;
    }
    return WasmResult.Ok;
  }
}
