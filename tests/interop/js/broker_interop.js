// MQTT.js against hubbub's broker over WebSocket (path /mqtt, subprotocol mqtt).
// Usage: node broker_interop.js ws://127.0.0.1:PORT/mqtt PROTOCOL_VERSION
// Prints one JSON line with what it observed; exits non-zero on any failure.
'use strict';
const mqtt = require('mqtt');

const url = process.argv[2];
const protocolVersion = Number(process.argv[3] || 4);
const failsafe = setTimeout(() => { console.error('timeout'); process.exit(2); }, 10000);

function connect(clientId, extra = {}) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId, protocolVersion, reconnectPeriod: 0, ...extra });
    c.once('connect', (connack) => resolve([c, connack]));
    c.once('error', reject);
  });
}

(async () => {
  const [sub, subAck] = await connect(`js-sub-${protocolVersion}`);
  const [pub] = await connect(`js-pub-${protocolVersion}`);
  const got = [];
  const done = new Promise((resolve) => {
    sub.on('message', (topic, payload, packet) => {
      got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain,
                 user: packet.properties && packet.properties.userProperties });
      if (got.length === 4) resolve();
    });
  });
  await pub.publishAsync('js/retained', 'kept', { qos: 1, retain: true });
  const granted = await sub.subscribeAsync('js/#', { qos: 2 });
  const opts = protocolVersion === 5 ? { properties: { userProperties: { from: 'mqtt.js' } } } : {};
  for (const qos of [0, 1, 2]) {
    await pub.publishAsync('js/chat', `q${qos}`, { qos, ...opts });
  }
  await done;
  await pub.endAsync();
  await sub.endAsync();
  clearTimeout(failsafe);
  console.log(JSON.stringify({
    granted: granted.map((g) => g.qos),
    sessionPresent: subAck.sessionPresent,
    maximumPacketSize: subAck.properties ? subAck.properties.maximumPacketSize : null,
    got,
  }));
})().catch((err) => { console.error(String(err && err.stack || err)); process.exit(1); });
