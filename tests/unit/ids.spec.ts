// IdTable (contexts and calls by id) against AssemblyScript's Map as the reference: random sets,
// gets and deletes over ids that collide, wrap around the table's end and make it grow; scans
// that delete as they go (as forgetOverdue and onDone do) see every entry.

import { IdTable } from "../../assembly/ids";

class Box {
  constructor(public n: u32) {}
}

/** xorshift32: the same ops on every run. */
let seed: u32 = 0x2545f491;
function next(): u32 {
  seed ^= seed << 13;
  seed ^= seed >> 17;
  seed ^= seed << 5;
  return seed;
}

/** Every key of `ref` is in `t` with its value, `t` holds nothing else, and its size agrees. */
function same(t: IdTable<Box | null>, ref: Map<u32, u32>, what: string): void {
  let seen = 0;
  let wrong = "";
  for (let i = 0; i < t.capacity && wrong.length == 0; i++) {
    const k = t.keyAt(i);
    const v = t.valueAt(i);
    if (k == 0) {
      if (v !== null) wrong = "a value in free slot " + i.toString();
      continue;
    }
    seen++;
    if (!ref.has(k)) wrong = "stray id " + k.toString();
    else if (v === null || v.n != ref.get(k) || t.get(k) !== v)
      wrong = "id " + k.toString() + " has the wrong value";
  }
  expect<string>(wrong).toBe("", what);
  expect<i32>(seen).toBe(ref.size, what + ": entries");
  expect<i32>(t.size).toBe(ref.size, what + ": size");
}

describe("IdTable", () => {
  it("answers null for ids it does not hold, 0 included", () => {
    const t = new IdTable<Box | null>();
    expect<bool>(t.get(0) === null).toBe(true);
    expect<bool>(t.get(7) === null).toBe(true);
    t.set(0, new Box(1)); // 0 is never an id
    expect<i32>(t.size).toBe(0);
    t.delete(7);
    expect<i32>(t.size).toBe(0);
  });

  it("agrees with Map over 200000 random operations (small id ranges: collisions and wraps)", () => {
    for (let round = 0; round < 4; round++) {
      // ids from 1..range: a small range gives long probe runs in a small table
      const range: u32 = [8, 40, 300, 5000][round];
      const t = new IdTable<Box | null>(2);
      const ref = new Map<u32, u32>();
      for (let step = 0; step < 50000; step++) {
        const id = (next() % range) + 1;
        const op = next() % 3;
        if (op == 0) {
          const v = next();
          t.set(id, new Box(v));
          ref.set(id, v);
        } else if (op == 1) {
          t.delete(id);
          ref.delete(id);
        } else {
          const got = t.get(id);
          const ok = got === null ? !ref.has(id) : got.n == ref.get(id);
          if (!ok) expect<string>("get " + id.toString()).toBe("as Map");
        }
        if (step % 4999 == 0) same(t, ref, "range " + range.toString());
      }
      same(t, ref, "range " + range.toString() + " at the end");
    }
  });

  it("holds consecutive ids as streams come and go, without growing past twice the most alive", () => {
    const t = new IdTable<Box | null>();
    let id: u32 = 1;
    for (let i = 0; i < 100000; i++) {
      t.set(id, new Box(id));
      if (id > 20) t.delete(id - 20);
      id++;
    }
    expect<i32>(t.size).toBe(20);
    expect<i32>(t.capacity).toBeLessThanOrEqual(64);
  });

  it("a scan that deletes at i and looks at i again removes exactly the entries it chose", () => {
    for (let round = 0; round < 50; round++) {
      const t = new IdTable<Box | null>(3);
      const ref = new Map<u32, u32>();
      const n = <i32>(next() % 60) + 1;
      for (let i = 0; i < n; i++) {
        const id = (next() % 200) + 1;
        const v = next();
        t.set(id, new Box(v));
        ref.set(id, v);
      }
      // delete the odd values, as forgetOverdue deletes the overdue calls
      for (let i = 0; t.size > 0 && i < t.capacity; i++) {
        const b = t.valueAt(i);
        if (b !== null && (b.n & 1) == 1) t.deleteAt(i--);
      }
      const keys = ref.keys();
      for (let i = 0; i < keys.length; i++) {
        if ((ref.get(keys[i]) & 1) == 1) ref.delete(keys[i]);
      }
      same(t, ref, "round " + round.toString());
    }
  });
});
