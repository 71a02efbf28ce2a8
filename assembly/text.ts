// Small text helpers shared by the rooms.

/** Room for the longest decimal (20 digits and a sign), as UTF-16. */
const DIGITS: usize = memory.data(42);

/**
 * `n` in decimal: what `n.toString()` gives, without the standard library's any-radix
 * machinery (its digit table and range error) in the module.
 */
export function decimal(n: i64): string {
  let u: u64 = n < 0 ? 0 - <u64>n : <u64>n;
  const end = DIGITS + 42;
  let at = end;
  do {
    at -= 2;
    store<u16>(at, <u16>(0x30 + (u % 10)));
    u /= 10;
  } while (u != 0);
  if (n < 0) {
    at -= 2;
    store<u16>(at, 0x2d);
  }
  return String.UTF16.decodeUnsafe(at, end - at);
}
