// The embedded store's lookup cache (src/grid/embedded/read-cache.ts): kept answers are only
// ever as old as the last commit the store could see, whoever made it — this connection, another
// connection, a rolled-back transaction — and never cross from one cap's authority to another's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { literalCap, readCapOf } from '../../src/caps/index.js';
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';
import { openDatabase } from '../../src/grid/embedded/db.js';
import { IndexReadCache } from '../../src/grid/embedded/read-cache.js';
import { tempDir } from '../helpers/tmp.js';

const SECRET = Buffer.alloc(32, 7);

test('read cache: an answer is kept until this connection writes anything, another connection commits, or a transaction rolls back', () => {
  const path = join(tempDir('lafsd-readcache-'), 'store.db');
  const db = openDatabase(path);
  const other = new Database(path);
  const cache = new IndexReadCache(db);
  let loads = 0;
  const look = () => cache.get('k', () => ({ slot: 's', answer: ++loads }));
  assert.equal(look(), 1);
  assert.equal(look(), 1, 'kept');
  assert.equal(look(), 1, 'kept');

  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('a', '1');
  assert.equal(look(), 2, 'a write through this connection, whatever code made it');
  assert.equal(look(), 2);

  other.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('b', '1');
  assert.equal(look(), 3, 'a commit of another connection (another process: lafsd put, lafsd gc)');
  assert.equal(look(), 3);

  assert.throws(() =>
    db.transaction(() => {
      db.prepare('UPDATE meta SET value = ? WHERE key = ?').run('2', 'a');
      throw new Error('rolled back');
    })(),
  );
  assert.equal(look(), 4, 'a rolled-back change forgets too (harmless)');

  db.prepare('SELECT * FROM meta').all();
  assert.equal(look(), 4, 'reading changes nothing');
  other.close();
  db.close();
});

test('read cache: at most `max` answers, the least recently used go first; undefined answers are kept too', () => {
  const db = openDatabase(join(tempDir('lafsd-readcache-'), 'store.db'));
  const cache = new IndexReadCache(db, 2);
  const loads: string[] = [];
  const look = (k: string) => cache.get(k, () => (loads.push(k), { slot: k, answer: k === 'none' ? undefined : k }));
  look('a');
  look('b');
  look('a'); // a is now the most recent
  look('c'); // b goes
  look('a');
  look('b');
  assert.deepEqual(loads, ['a', 'b', 'c', 'b']);
  assert.equal(look('none'), undefined);
  assert.equal(look('none'), undefined);
  assert.equal(loads.filter((k) => k === 'none').length, 1);
  db.close();
});

test('getChild through the cache: changes made through another store on the same folder show at once; callers get copies', async () => {
  const dir = tempDir('lafsd-readcache-store-');
  const a = await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET });
  const b = await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET });
  const root = await a.createDirectory();
  const one = literalCap(Buffer.from('one'));
  const two = literalCap(Buffer.from('two'));
  assert.equal(await a.getChild(root, 'x'), undefined);
  await b.setChild(root, 'x', one, { replace: true, metadata: { note: 'b' } });
  assert.equal((await a.getChild(root, 'x'))?.node.cap, one);

  const copy = (await a.getChild(root, 'x'))!;
  copy.metadata.note = 'changed by a caller';
  copy.node.cap = two;
  const again = (await a.getChild(root, 'x'))!;
  assert.equal(again.metadata.note, 'b');
  assert.equal(again.node.cap, one);

  await b.setChild(root, 'x', two, { replace: true });
  assert.equal((await a.getChild(root, 'x'))?.node.cap, two);
  await b.deleteChild(root, 'x');
  assert.equal(await a.getChild(root, 'x'), undefined);
  await b.close();
  await a.close();
});

test('getChild through the cache: a read-only directory cap never gets an answer kept for the write cap', async () => {
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-readcache-ro-'), convergenceSecret: SECRET });
  const root = await grid.createDirectory();
  const sub = await grid.mkdir(root, 'sub');
  const viaWrite = await grid.getChild(root, 'sub');
  assert.equal(viaWrite?.node.cap, sub);
  assert.equal(viaWrite?.node.readOnly, false);
  const viaRead = await grid.getChild(readCapOf(root), 'sub');
  assert.equal(viaRead?.node.cap, readCapOf(sub));
  assert.equal(viaRead?.node.readOnly, true);
  await grid.close();
});

test('getChild through the cache agrees with a model over 400 random changes made through two stores on one folder', async () => {
  const dir = tempDir('lafsd-readcache-model-');
  const grids = [await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET }), await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET })];
  const root = await grids[0]!.createDirectory();
  const names = ['a', 'b', 'c', 'd', 'é'];
  const model = new Map<string, string>();
  let seed = 12345;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  for (let step = 0; step < 400; step++) {
    const grid = grids[rand(2)]!;
    const name = names[rand(names.length)]!;
    const op = rand(3);
    if (op === 0) {
      const cap = literalCap(Buffer.from(`v${step}`));
      await grid.setChild(root, name, cap, { replace: true });
      model.set(name, cap);
    } else if (op === 1 && model.has(name)) {
      await grid.deleteChild(root, name);
      model.delete(name);
    } else if (op === 2 && model.has(name)) {
      const to = names[rand(names.length)]!;
      if (to !== name) {
        await grid.moveChild(root, name, root, to, true);
        model.set(to, model.get(name)!);
        model.delete(name);
      }
    }
    // Both stores, every name, after every change (each store answers from its own cache).
    for (const g of grids) {
      for (const n of names) assert.equal((await g.getChild(root, n))?.node.cap, model.get(n), `step ${step}, ${n}`);
    }
  }
  for (const g of grids) await g.close();
});

test('getChild through the cache agrees with a model over 600 random changes of every kind, own and other stores\', seen through write and read caps of two folders', async () => {
  const dir = tempDir('lafsd-readcache-model2-');
  const grids = [await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET }), await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET })];
  const root = await grids[0]!.createDirectory();
  const sub = await grids[0]!.mkdir(root, 'sub', { metadata: { note: -1 } });
  const folders = [root, sub];
  const names = ['a', 'b', 'é', 'sub2'];
  // folder → name → what its entry must show
  const model = new Map(folders.map((f) => [f, new Map<string, { cap: string; note: number; size?: number }>()]));
  model.get(root)!.set('sub', { cap: sub, note: -1 });
  const mutable = await grids[0]!.createMutable({ immutableCap: literalCap(Buffer.from('m0')) });
  await grids[0]!.setChild(sub, 'm', mutable, { replace: true, metadata: { note: -2 } });
  model.get(sub)!.set('m', { cap: mutable, note: -2, size: 2 });
  let seed = 4242;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  const entryOf = (f: string, n: string) => model.get(f)!.get(n);
  for (let step = 0; step < 600; step++) {
    const grid = grids[rand(2)]!;
    const folder = folders[rand(2)]!;
    const name = names[rand(names.length)]!;
    const op = rand(7);
    if (op === 0) {
      const cap = literalCap(Buffer.from(`v${step}`));
      await grid.setChild(folder, name, cap, { replace: true, metadata: { note: step } });
      model.get(folder)!.set(name, { cap, note: step });
    } else if (op === 1 && entryOf(folder, name)) {
      await grid.deleteChild(folder, name);
      model.get(folder)!.delete(name);
    } else if (op === 2 && entryOf(folder, name)) {
      const toFolder = folders[rand(2)]!;
      const to = names[rand(names.length)]!;
      if (toFolder !== folder || to !== name) {
        await grid.moveChild(folder, name, toFolder, to, true);
        const moved = entryOf(folder, name)!;
        model.get(folder)!.delete(name);
        model.get(toFolder)!.set(to, moved);
      }
    } else if (op === 3 && entryOf(folder, name)) {
      await grid.patchMetadata(folder, name, { note: step });
      entryOf(folder, name)!.note = step;
    } else if (op === 4) {
      const cap = await grid.mkdir(folder, name, { replace: true, metadata: { note: step } });
      model.get(folder)!.set(name, { cap, note: step });
    } else if (op === 5) {
      // A new version of the mutable file: its size shows in its parent's entry.
      const size = 1 + rand(40);
      await grid.overwriteMutable(mutable, { immutableCap: literalCap(Buffer.alloc(size, 1)) });
      for (const f of folders) for (const e of model.get(f)!.values()) if (e.cap === mutable) e.size = size;
    } else {
      // A small upload: its object is written in a transaction of its own.
      const up = await grid.upload();
      await up.write(Buffer.alloc(4096, step % 256));
      await up.finish();
    }
    // Both stores, both folders through their write and read caps, every name.
    for (const g of grids) {
      for (const f of folders) {
        for (const n of [...names, 'sub', 'm']) {
          const want = entryOf(f, n);
          for (const viaRead of [false, true]) {
            const got = await g.getChild(viaRead ? readCapOf(f) : f, n);
            const where = `step ${step} (op ${op}), ${f === root ? 'root' : 'sub'}/${n}${viaRead ? ' via read cap' : ''}`;
            assert.equal(got?.node.cap, want && (viaRead ? readCapOf(want.cap) : want.cap), where);
            if (want) assert.equal(got!.metadata.note, want.note, where);
            if (want?.size !== undefined) assert.equal(got!.node.size, want.size, where);
          }
        }
      }
    }
  }
  for (const g of grids) await g.close();
});
