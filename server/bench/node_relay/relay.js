// The bench's Node.js peer: what a team would build on `pg` and `ws` to relay PostgreSQL notifications.
//
// It LISTENs on the channel the bench's trigger publishes every change_log row on (already shaped as our
// `sync.event`, see server/bench/peer.py) and sends each notification to every open WebSocket: one
// `client.send` per client per message, the broadcast loop of ws's README. Deliberately nothing more: no
// authorization, no per-role filtering, no replay after a reconnect, no backpressure.
//
//   DATABASE_URL=postgresql://… node relay.js --host 127.0.0.1 --port 8765 [--channel clinic_peer]
//
// GET /healthz answers {"status": "ok"} once the LISTEN is in place; WebSockets connect to /ws.
'use strict';

const http = require('node:http');
const { parseArgs } = require('node:util');
const pg = require('pg');
const { WebSocketServer, WebSocket } = require('ws');

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8765' },
    channel: { type: 'string', default: 'clinic_peer' },
  },
});

async function main() {
  let listening = false;
  const server = http.createServer((request, response) => {
    if (request.url === '/healthz' && listening) {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ status: 'ok', pid: process.pid, clients: wss.clients.size }));
    } else {
      response.writeHead(request.url === '/healthz' ? 503 : 404);
      response.end();
    }
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => {
    ws.on('error', console.error);
  });

  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  db.on('error', (error) => {
    console.error('database connection lost:', error.message);
    process.exit(1);
  });
  await db.connect();
  db.on('notification', (message) => {
    wss.clients.forEach((client) => {
      if (client.readyState === WebSocket.OPEN) {
        client.send(message.payload);
      }
    });
  });
  await db.query(`LISTEN ${pg.escapeIdentifier(args.channel)}`);
  listening = true;

  server.listen(Number(args.port), args.host);
  const stop = () => {
    wss.clients.forEach((client) => client.terminate());
    server.close();
    db.end().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
