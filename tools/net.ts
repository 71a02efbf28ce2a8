/** Loopback ports. */
import { readFileSync } from "node:fs";
import net from "node:net";

/**
 * A port on 127.0.0.1 that nobody listens on: bound and released, so it is free for whoever binds
 * it next, and connections to it are refused until then.
 */
export function freePort(): Promise<number> {
  return listenOnce(0);
}

/**
 * A port on 127.0.0.1 that refuses connections and stays refusing: free now and below the
 * kernel's range of ephemeral ports, so no server that asks for port 0 (an upstream, Envoy,
 * Prometheus) is given it later, as a port from freePort can be.
 */
export async function refusedPort(): Promise<number> {
  const [low] = ephemeralRange();
  const first = Math.max(1024, low - 8192);
  for (let tries = 0; tries < 64; tries++) {
    const port = first + Math.floor(Math.random() * (low - first));
    try {
      return await listenOnce(port);
    } catch {
      // in use: try another
    }
  }
  throw new Error(`no free port in ${first}–${low - 1} on 127.0.0.1`);
}

/** The kernel's range of ephemeral ports (Linux; elsewhere IANA's 49152–65535). */
function ephemeralRange(): [number, number] {
  try {
    const text = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8");
    const [low, high] = text.trim().split(/\s+/).map(Number);
    if (low > 1024 && high >= low) return [low, high];
  } catch {
    // not Linux
  }
  return [49152, 65535];
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
