import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { BlobStore, StoredObject } from '../../core/blobs/blobs.ts';

/**
 * The blob store of the embedded default: objects are files under `root/objects`, multipart uploads
 * are directories of part files under `root/multipart` until they complete (then one rename). An
 * object is written to `root/staging` and renamed into place, so `objects` holds whole objects only.
 */
export const createFsBlobStore = (root: string): BlobStore => {
  const objects = join(root, 'objects');
  const multipart = join(root, 'multipart');
  const staging = join(root, 'staging');
  const pathOf = (key: string) => {
    const p = join(objects, ...key.split('/'));
    if (!p.startsWith(objects + sep)) throw new Error(`blob key ${key} leaves the store`);
    return p;
  };
  const uploadDir = (uploadId: string) => join(multipart, uploadId.replace(/[^A-Za-z0-9-]/g, ''));
  const sizeOf = async (path: string) => {
    try {
      const s = await stat(path);
      return s.isFile() ? s.size : null;
    } catch {
      return null;
    }
  };
  const writeAtomically = async (path: string, body: Buffer) => {
    await Promise.all([mkdir(dirname(path), { recursive: true }), mkdir(staging, { recursive: true })]);
    // staged outside `objects`: a listing never meets a half-written file, whatever the keys are named
    const tmp = join(staging, randomUUID());
    await writeFile(tmp, body);
    await rename(tmp, path);
  };
  const walk = async (dir: string): Promise<string[]> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) out.push(...(await walk(p)));
      else out.push(p);
    }
    return out;
  };

  return {
    put: async (key, body) => writeAtomically(pathOf(key), body),
    get: async (key) => {
      const size = await sizeOf(pathOf(key));
      return size === null ? null : { body: createReadStream(pathOf(key)), size };
    },
    head: async (key) => {
      const size = await sizeOf(pathOf(key));
      return size === null ? null : { size };
    },
    delete: async (key) => {
      await rm(pathOf(key), { force: true });
    },
    list: async (prefix, options = {}) => {
      const out: StoredObject[] = [];
      const after = options.startAfter;
      for (const path of await walk(objects)) {
        const key = relative(objects, path).split(sep).join('/');
        if (key.startsWith(prefix) && (after === undefined || key > after))
          out.push({ key, size: (await sizeOf(path)) ?? 0 });
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    createMultipart: async (key) => {
      const uploadId = randomUUID();
      await mkdir(uploadDir(uploadId), { recursive: true });
      await writeFile(join(uploadDir(uploadId), 'key'), key);
      return uploadId;
    },
    uploadPart: async (_key, uploadId, partNumber, body) => {
      const name = String(partNumber).padStart(6, '0');
      await writeFile(join(uploadDir(uploadId), `part-${name}`), body);
      return `"${name}"`;
    },
    completeMultipart: async (key, uploadId, parts) => {
      const dir = uploadDir(uploadId);
      const bodies = await Promise.all(
        [...parts]
          .sort((a, b) => a.partNumber - b.partNumber)
          .map((p) => readFile(join(dir, `part-${String(p.partNumber).padStart(6, '0')}`))),
      );
      await writeAtomically(pathOf(key), Buffer.concat(bodies));
      await rm(dir, { recursive: true, force: true });
    },
    abortMultipart: async (_key, uploadId) => {
      await rm(uploadDir(uploadId), { recursive: true, force: true });
    },
    listMultipart: async (prefix) => {
      let ids: string[];
      try {
        ids = await readdir(multipart);
      } catch {
        return [];
      }
      const out: { key: string; uploadId: string }[] = [];
      for (const uploadId of ids) {
        const key = await readFile(join(multipart, uploadId, 'key'), 'utf8').catch(() => null);
        if (key?.startsWith(prefix)) out.push({ key, uploadId });
      }
      return out;
    },
    close: async () => {},
  };
};
