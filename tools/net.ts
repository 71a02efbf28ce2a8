/** Loopback ports. */
import net from "node:net";

/**
 * A port on 127.0.0.1 that nobody listens on: bound and released, so it is free for whoever binds
 * it next, and connections to it are refused until then.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
