import { Host } from "/work/wt/lead/tests/host/emulator.ts";
async function main() {
  const host = await Host.load("/work/wt/lead/build/mirror.debug.wasm", {
    rootId: "mirror",
  });
  console.log(
    host.configure(JSON.stringify({ cluster: "dark", percentage: 100 })),
  );
  for (let i = 0; i < 200; i++) {
    const s = host.stream();
    s.requestHeaders(
      [
        [":method", "GET"],
        [":path", "/x"],
        [":authority", "k"],
        ["x-request-id", "r" + i],
      ],
      true,
    );
    s.responseHeaders([[":status", "200"]], true);
    s.done();
    try {
      host.respond(host.httpCalls[host.httpCalls.length - 1], { status: 200 });
    } catch (e) {
      console.log(i, String(e).slice(0, 300));
      break;
    }
  }
  console.log(host.trapped.slice(0, 1));
}
main();
