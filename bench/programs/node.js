// node - the node.js runtime (V8) at work a server does: objects and arrays,
// Maps, string building, JSON round trips, Buffers and typed arrays. V8
// keeps JavaScript objects in its own garbage-collected heap (mapped pages,
// not malloc); malloc serves its compiler and parser zones, Buffer and
// ArrayBuffer backing stores, and libuv. So this is the program where the
// allocator matters least: a check that buddyslab costs nothing there.
//
// Run by scripts/bench --programs under each allocator (through
// LD_PRELOAD); the size scales with BENCH_SCALE. Prints one line: node and
// a checksum of the results, which must be the same under every allocator.
'use strict';
const crypto = require('crypto');

const scale = Number(process.env.BENCH_SCALE || '1');
const n = Math.max(1000, Math.floor(120000 * scale));
let seed = 7;
function rnd() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed; }

const hash = crypto.createHash('sha256');
for (let round = 0; round < 3; round++) {
  const users = new Map();
  for (let i = 0; i < n; i++) {
    const tags = [];
    for (let t = rnd() % 6; t > 0; t--) tags.push('t' + (rnd() % 500));
    users.set('u' + i + '-' + (rnd() % 100000), { id: i, name: 'n' + rnd().toString(36), tags, score: rnd() % 1000 });
  }
  const text = JSON.stringify([...users.values()].filter((u) => u.id % 4 === round));
  const back = JSON.parse(text);
  hash.update(String(text.length) + ':' + back.length);
  // Buffers and typed arrays: their memory is malloc's
  const bufs = [];
  for (let i = 0; i < n / 10; i++) {
    const b = Buffer.alloc(64 + (rnd() % 4096));
    b.writeUInt32LE(i, 0);
    bufs.push(b);
  }
  const joined = Buffer.concat(bufs);
  hash.update(String(joined.length));
  const f = new Float64Array(n);
  for (let i = 0; i < n; i++) f[i] = (rnd() % 10000) / 7;
  f.sort();
  hash.update(String(Math.round(f[n >> 1] * 1000)));
  const sorted = [...users.keys()].sort();
  hash.update(sorted[0] + sorted[sorted.length - 1]);
  let s = '';
  for (const u of users.values()) if (u.score > 990) s += u.name + ',';
  hash.update(s);
}
console.log('node records=' + 3 * n + ' checksum=' + parseInt(hash.digest('hex').slice(0, 13), 16));
