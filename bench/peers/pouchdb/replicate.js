'use strict';
// The peer's devices: D PouchDB databases (LevelDB on disk) replicating through
// the server started by server.js.
//
// Usage: node replicate.js --url http://127.0.0.1:PORT --dir DIR
//                          [--batch-size 100] FILE.jsonl [FILE.jsonl ...]
// Each FILE is one device's events, one JSON object per line; each becomes a
// document whose _id is the event's id. Loading the devices is setup and is not
// timed. Timed, in this order, one device at a time:
//   push: each device replicates to the server;
//   pull: each device replicates from the server until it holds everything.
// Then every replica (the server's and each device's) is checked to hold exactly
// the D x N ids of the input, and one JSON object with the timings is printed.

const path = require('path');
const fs = require('fs');
const readline = require('readline');
const PouchDB = require('pouchdb-node');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function inputs() {
  const files = [];
  for (let i = 2; i < process.argv.length; i++) {
    if (process.argv[i].startsWith('--')) { i++; continue; }
    files.push(process.argv[i]);
  }
  return files;
}

async function load(db, file) {
  const ids = [];
  let chunk = [];
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    const event = JSON.parse(line);
    const doc = Object.assign({ _id: event.event_id }, event);
    ids.push(doc._id);
    chunk.push(doc);
    if (chunk.length === 1000) { await bulk(db, chunk); chunk = []; }
  }
  if (chunk.length) await bulk(db, chunk);
  return ids;
}

async function bulk(db, docs) {
  const results = await db.bulkDocs(docs);
  const failed = results.filter((r) => r.error);
  if (failed.length) throw new Error(`loading failed: ${JSON.stringify(failed[0])}`);
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  const result = await fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, result };
}

async function verify(db, expected, label) {
  const info = await db.info();
  if (info.doc_count !== expected.size) {
    throw new Error(`${label} holds ${info.doc_count} documents, expected ${expected.size}`);
  }
  let held = 0;
  let startkey;
  for (;;) {
    const page = await db.allDocs(startkey === undefined
      ? { limit: 10000 } : { limit: 10001, startkey, skip: 1 });
    const rows = page.rows;
    if (!rows.length) break;
    for (const row of rows) {
      if (!expected.has(row.id)) throw new Error(`${label} holds an unexpected document ${row.id}`);
      held++;
    }
    startkey = rows[rows.length - 1].id;
  }
  if (held !== expected.size) throw new Error(`${label} lists ${held} ids, expected ${expected.size}`);
}

async function main() {
  const url = arg('url');
  const dir = path.resolve(arg('dir', '.'));
  const batchSize = Number(arg('batch-size', '100'));
  const files = inputs();
  if (!url || !files.length) throw new Error('usage: replicate.js --url URL --dir DIR FILE...');
  fs.mkdirSync(dir, { recursive: true });

  const devices = files.map((_, i) => new PouchDB(path.join(dir, `device-${i}`)));
  const expected = new Set();
  for (let i = 0; i < files.length; i++) {
    for (const id of await load(devices[i], files[i])) expected.add(id);
  }
  const server = new PouchDB(`${url}/events`);
  await server.info(); // creates the server database before the clock starts

  const options = { batch_size: batchSize };
  const push = [];
  const pull = [];
  for (const db of devices) {
    const { seconds, result } = await timed(() => PouchDB.replicate(db, server, options));
    if (!result.ok) throw new Error(`push failed: ${JSON.stringify(result.errors)}`);
    push.push({ seconds, docs_written: result.docs_written });
  }
  for (const db of devices) {
    const { seconds, result } = await timed(() => PouchDB.replicate(server, db, options));
    if (!result.ok) throw new Error(`pull failed: ${JSON.stringify(result.errors)}`);
    pull.push({ seconds, docs_written: result.docs_written });
  }

  await verify(server, expected, 'the server');
  for (let i = 0; i < devices.length; i++) await verify(devices[i], expected, `device ${i}`);
  for (const db of devices) await db.close();

  const sum = (phase) => phase.reduce((s, p) => s + p.seconds, 0);
  process.stdout.write(JSON.stringify({
    peer: 'pouchdb',
    versions: {
      node: process.version,
      pouchdb: require('pouchdb-node/package.json').version,
      'express-pouchdb': require('express-pouchdb/package.json').version,
    },
    devices: devices.length,
    events: expected.size,
    batch_size: batchSize,
    push,
    pull,
    push_seconds: sum(push),
    pull_seconds: sum(pull),
    verified: true,
  }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`replicate.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
