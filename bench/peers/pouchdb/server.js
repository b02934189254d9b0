'use strict';
// The peer's server: PouchDB's own CouchDB-compatible HTTP server
// (express-pouchdb) over LevelDB on disk, bound to 127.0.0.1.
//
// Usage: node server.js --dir DIR [--port PORT]
// Prints one JSON line {"ready": true, "port": N} on stdout once it listens;
// the benchmark driver waits for that line, and ends the process with SIGTERM.
//
// Mode `minimumForPouchDB` mounts only what replication needs (no Fauxton, no
// auth, no log file): the lightest configuration of the peer, so that the
// comparison is against the peer at its best, not its defaults.

const path = require('path');
const fs = require('fs');
const express = require('express');
const PouchDB = require('pouchdb-node');
const expressPouchDB = require('express-pouchdb');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const dir = path.resolve(arg('dir', '.'));
const port = Number(arg('port', '0'));
fs.mkdirSync(dir, { recursive: true });

const ServerPouch = PouchDB.defaults({ prefix: dir + path.sep });
const app = express();
app.use('/', expressPouchDB(ServerPouch, { mode: 'minimumForPouchDB', inMemoryConfig: true }));

const listener = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ ready: true, port: listener.address().port }) + '\n');
});

function stop() {
  listener.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
