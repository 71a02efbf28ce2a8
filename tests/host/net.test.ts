// Loopback ports (tools/net.ts): a refused port stays refused while servers take ports of their own.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import net from "node:net";
import { describe, it } from "node:test";
import { freePort, refusedPort } from "../../tools/net.ts";

function connect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    c.once("connect", () => {
      c.destroy();
      resolve("connected");
    });
    c.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "?"));
  });
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

describe("loopback ports", () => {
  it("freePort: a port nobody listens on, that a server can then take", async () => {
    const port = await freePort();
    assert.equal(await connect(port), "ECONNREFUSED");
    const s = await listen(port);
    assert.equal(await connect(port), "connected");
    s.close();
  });

  it("refusedPort: below the ephemeral range, and still refused after 200 servers took port 0", async () => {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    const port = await refusedPort();
    assert.ok(port >= 1024 && port < low, `${port} not in 1024–${low - 1}`);
    const servers: net.Server[] = [];
    for (let i = 0; i < 200; i++) servers.push(await listen(0));
    try {
      const taken = servers.map((s) => (s.address() as net.AddressInfo).port);
      assert.ok(!taken.includes(port));
      assert.equal(await connect(port), "ECONNREFUSED");
    } finally {
      for (const s of servers) s.close();
    }
  });
});
