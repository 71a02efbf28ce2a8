// The verdict benchmark's upstreams, in a process of their own (forked by verdict.ts, so that
// the load the benchmark sends never delays their answers): one server per side on a free port,
// HTTP/1.1 with JSON bodies or h2c gRPC, each answering as verdict-service.ts says. The parent
// sends {start} and gets {ports}; {counts} returns what each side received and what was injected.
import http from "node:http";
import http2 from "node:http2";
import type net from "node:net";
import { answer, type Behaviour, type BodyKind } from "./verdict-service.ts";

export interface StartMessage {
  type: "start";
  seed: number;
  protocol: "http1" | "grpc";
  bodyKind: BodyKind;
  sides: Record<string, Behaviour>;
}

/** What one side received and what was injected into its answers. */
export interface SideCounts {
  requests: number;
  errors: number;
  changed: number;
  tail: number;
}

const counts: Record<string, SideCounts> = {};
const servers: Array<http.Server | http2.Http2Server> = [];

function count(side: string, a: ReturnType<typeof answer>) {
  const c = counts[side];
  c.requests++;
  if (a.injected.error) c.errors++;
  if (a.injected.changed) c.changed++;
  if (a.injected.tail) c.tail++;
}

/** A gRPC message frame: uncompressed, 2 bytes of protobuf (field 1 = 1). */
const GRPC_MESSAGE = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);

function serve(m: StartMessage, side: string, b: Behaviour) {
  const instance = `${side}-${process.pid}`;
  counts[side] = { requests: 0, errors: 0, changed: 0, tail: 0 };
  if (m.protocol === "grpc") {
    const server = http2.createServer();
    server.on("stream", (stream, headers) => {
      stream.on("error", () => undefined);
      stream.resume();
      stream.on("end", () => {
        const id = String(headers["x-request-id"] ?? "");
        const a = answer(m.seed, side, b, id, m.bodyKind, instance);
        count(side, a);
        setTimeout(() => {
          if (stream.destroyed) return;
          stream.respond(
            { ":status": 200, "content-type": "application/grpc" },
            { waitForTrailers: true },
          );
          stream.on("wantTrailers", () =>
            stream.sendTrailers({ "grpc-status": String(a.grpcStatus) }),
          );
          stream.end(GRPC_MESSAGE);
        }, a.delayMs);
      });
    });
    return server;
  }
  const server = http.createServer({ keepAlive: true }, (req, res) => {
    req.resume();
    req.on("end", () => {
      const id = String(req.headers["x-request-id"] ?? "");
      const a = answer(m.seed, side, b, id, m.bodyKind, instance);
      count(side, a);
      setTimeout(() => {
        res.writeHead(a.status, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(a.body!),
        });
        res.end(a.body);
      }, a.delayMs);
    });
  });
  server.keepAliveTimeout = 60_000;
  return server;
}

process.on("message", async (m: StartMessage | { type: "counts" }) => {
  if (m.type === "counts") {
    process.send!({ type: "counts", counts });
    return;
  }
  const ports: Record<string, number> = {};
  for (const [side, b] of Object.entries(m.sides)) {
    const server = serve(m, side, b);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    ports[side] = (server.address() as net.AddressInfo).port;
  }
  process.send!({ type: "ports", ports });
});

// The parent going away ends this process.
process.on("disconnect", () => process.exit(0));
