// gatherWrites (src/util/write-gatherer.ts): a tick's writes leave together, small ones copied
// into one buffer; the bytes that arrive are the bytes written, in order, whatever the mix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Socket } from 'node:net';
import { SMALL_WRITE_BYTES, gatherWrites } from '../../src/util/write-gatherer.js';

/** A connected pair on loopback: `writer` (gathered) and the server side's socket; close() ends all. */
async function pair(): Promise<{ writer: Socket; reader: Socket; close: () => void }> {
  const server = createServer();
  let reader!: Socket;
  const accepted = new Promise<void>((resolve) => {
    server.once('connection', (s: Socket) => {
      reader = s;
      resolve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const writer = connect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise<void>((resolve) => writer.once('connect', resolve));
  await accepted;
  gatherWrites(writer);
  const close = () => {
    writer.destroy();
    reader.destroy();
    server.close();
  };
  return { writer, reader, close };
}

function readAll(sock: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => sock.once('end', () => resolve(Buffer.concat(chunks))));
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('fuzz: random sizes, ticks, callbacks and strings arrive whole and in order; end() sends what was gathered', async () => {
  for (let round = 0; round < 20; round++) {
    const { writer, reader, close } = await pair();
    const received = readAll(reader);
    const sent: Buffer[] = [];
    let callbacks = 0;
    let expectedCallbacks = 0;
    try {
      for (let i = 0; i < 400; i++) {
        const r = Math.random();
        const size = r < 0.7 ? Math.floor(Math.random() * 200) : r < 0.95 ? Math.floor(Math.random() * 2 * SMALL_WRITE_BYTES) : 40_000;
        const chunk = randomBytes(size);
        sent.push(chunk);
        const how = Math.random();
        if (how < 0.1) {
          expectedCallbacks += 1;
          writer.write(chunk, () => (callbacks += 1));
        } else if (how < 0.15) writer.write(chunk.toString('latin1'), 'latin1');
        else writer.write(chunk);
        if (Math.random() < 0.1) await tick();
      }
      const last = randomBytes(30);
      sent.push(last);
      writer.write(last);
      writer.end(); // in the same tick as the last small write: it must still be sent first
      const got = await received;
      assert.equal(got.length, Buffer.concat(sent).length);
      assert.ok(got.equals(Buffer.concat(sent)), `round ${round}: bytes differ`);
      assert.equal(callbacks, expectedCallbacks);
    } finally {
      close();
    }
  }
});

test('unsent small writes are queued as one buffer per tick, not one entry per write', async () => {
  const { writer, reader, close } = await pair();
  reader.pause(); // never read: everything stays queued once the kernel's buffers are full
  try {
    const packet = Buffer.alloc(52, 7); // a keepalive reply's size
    let writes = 0;
    while (writer.writableLength < 8 * 1024 * 1024) {
      for (let i = 0; i < 1000; i++) writer.write(packet);
      writes += 1000;
      await tick();
    }
    const queued = (writer as unknown as { writableBuffer: unknown[] }).writableBuffer.length;
    // Ungathered, each write would be an entry of its own (~240,000 of them).
    assert.ok(queued <= writes / 1000 + 1, `${queued} entries queued for ${writes} writes`);
  } finally {
    close();
  }
});

test('writes gathered when the socket is destroyed are dropped without an error', async () => {
  const { writer, close } = await pair();
  const errors: Error[] = [];
  writer.on('error', (e) => errors.push(e));
  try {
    writer.write(Buffer.from('hello'));
    writer.destroy();
    writer.write(Buffer.from('after'));
    await tick();
    await tick();
    assert.deepEqual(errors.map((e) => e.message), []);
  } finally {
    close();
  }
});
