// Runs the web client's aws.js in node for tests/unit/aws: reads {"module": path, "calls":
// [{fn, args}]} on stdin, answers [{ok, value | error}] on stdout, one per call, in order.
import { pathToFileURL } from "node:url";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { module, calls } = JSON.parse(input);
const aws = { ...(await import(pathToFileURL(module).href)) };
// awsProvider with an in-memory sessionStorage: credentials, then the signed URL.
aws.__provider = async (cfg, storedId, now) => {
  const store = new Map(storedId ? [["hubbub.aws.identity", storedId]] : []);
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v),
                   removeItem: (k) => store.delete(k) };
  const provider = aws.awsProvider(cfg, storage);
  const creds = await provider.getCredentials();
  const url = await provider.mqttUrl(creds, now);
  const stored = storage.getItem("hubbub.aws.identity");
  // a normal disconnect keeps the identity, a takeover (0x8E) forgets it
  const kept = [provider.takenOver(0x00), provider.takenOver(undefined),
                storage.getItem("hubbub.aws.identity")];
  const forgot = [provider.takenOver(0x8e), storage.getItem("hubbub.aws.identity")];
  return { creds, url, stored, kept, forgot };
};
const out = [];
for (const { fn, args } of calls) {
  try {
    out.push({ ok: true, value: await aws[fn](...args) });
  } catch (err) {
    out.push({ ok: false, error: { name: err.name, type: err.type ?? null, message: err.message,
                                   status: err.status ?? null, retryAfter: err.retryAfter ?? null } });
  }
}
process.stdout.write(JSON.stringify(out));
