// Contexts and calls by id: the root contexts, every stream alive (which root it belongs to, and
// its state when mirrored), each root's dispatched calls by token.
//
// Every request passes through here, mirrored or not, so a table allocates nothing once it has
// held the most entries it holds at once: open addressing with linear probing, and deletion by
// shifting the entries after the freed slot back (no tombstones, so no rehash as streams come and
// go). AssemblyScript's Map allocates new arrays whenever its deleted entries fill it: for a
// request that is not mirrored, garbage left to the next collection.

/** u32 id → V (a nullable reference); ids are never 0: 0 marks a free slot. */
export class IdTable<V> {
  private keys: StaticArray<u32>;
  private values: StaticArray<V>;
  private shift: u32;
  size: i32 = 0;

  constructor(bits: u32 = 4) {
    this.keys = new StaticArray<u32>(1 << bits);
    this.values = new StaticArray<V>(1 << bits);
    this.shift = 32 - bits;
  }

  /** The slot an id hashes to (Fibonacci hashing: ids are consecutive numbers). */
  private home(id: u32): i32 {
    return <i32>((id * 0x9e3779b1) >>> this.shift);
  }

  /** The slot holding `id`, or the free slot where it would go. */
  private find(id: u32): i32 {
    const keys = this.keys;
    const mask = keys.length - 1;
    let i = this.home(id);
    while (true) {
      const k = unchecked(keys[i]);
      if (k == id || k == 0) return i;
      i = (i + 1) & mask;
    }
  }

  /** The value of `id`, or null. */
  get(id: u32): V {
    return id == 0 ? changetype<V>(0) : unchecked(this.values[this.find(id)]);
  }

  set(id: u32, value: V): void {
    if (id == 0) return;
    // at most half full: probes stay short
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const i = this.find(id);
    if (unchecked(this.keys[i]) == 0) {
      unchecked((this.keys[i] = id));
      this.size++;
    }
    unchecked((this.values[i] = value));
  }

  delete(id: u32): void {
    if (id != 0) this.deleteAt(this.find(id));
  }

  /** Slots, for a scan with keyAt and valueAt. */
  get capacity(): i32 {
    return this.keys.length;
  }

  /** The id in slot `i`, or 0 when it is free. */
  keyAt(i: i32): u32 {
    return unchecked(this.keys[i]);
  }

  valueAt(i: i32): V {
    return unchecked(this.values[i]);
  }

  /**
   * Frees slot `i`. A scan that deletes at `i` must look at `i` again (an entry from further on
   * may have moved into it), and may meet an entry it kept once more (one from the start of the
   * table, moved back across its end).
   */
  deleteAt(i: i32): void {
    const keys = this.keys;
    const values = this.values;
    if (unchecked(keys[i]) == 0) return;
    this.size--;
    const mask = keys.length - 1;
    // Entries after the freed slot whose home is not between it and them move back into it.
    let free = i;
    let j = i;
    while (true) {
      j = (j + 1) & mask;
      const k = unchecked(keys[j]);
      if (k == 0) break;
      // cyclic distance from its home to where it is, and from the free slot
      if (((j - this.home(k)) & mask) >= ((j - free) & mask)) {
        unchecked((keys[free] = k));
        unchecked((values[free] = values[j]));
        free = j;
      }
    }
    unchecked((keys[free] = 0));
    unchecked((values[free] = changetype<V>(0)));
  }

  private grow(): void {
    const keys = this.keys;
    const values = this.values;
    const bits = 33 - this.shift;
    this.keys = new StaticArray<u32>(1 << bits);
    this.values = new StaticArray<V>(1 << bits);
    this.shift = 32 - bits;
    this.size = 0;
    for (let i = 0; i < keys.length; i++) {
      const k = unchecked(keys[i]);
      if (k != 0) this.set(k, unchecked(values[i]));
    }
  }
}
