// Text helpers: decimal numbers as toString() writes them.

import { decimal } from "../../assembly/text";

describe("decimal", () => {
  it("writes integers as toString() does", () => {
    const values: i64[] = [
      0,
      7,
      -1,
      10,
      -12,
      600000,
      4294967295,
      1 << 40,
      I64.MAX_VALUE,
      I64.MIN_VALUE,
    ];
    for (let i = 0; i < values.length; i++) {
      expect<string>(decimal(values[i])).toBe(values[i].toString());
    }
  });
});
