// Event data with a bytes field: the codec's binary frame, the JSON views, archive lines.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createInProcessRegistry } from '../../connectors/embedded/registry.ts';
import { fromLine, toLine } from '../../core/blobs/archive.ts';
import { fromJsonData, toJsonData } from '../../core/blobs/bytes-json.ts';
import { createCodec } from '../../core/log/codec.ts';
import { createCatalog, defineEventType } from '../../core/log/event-types.ts';
import type { EventId, RecordedEvent, StreamId } from '../../core/types.ts';
import { BlobChunk, blobEventTypes } from '../../schemas/blobs.ts';

const bytes = Buffer.from(Array.from({ length: 200_001 }, (_, i) => (i * 7) % 256));
const chunk = { blobId: 'b-1', upload: '0190f1e2-0000-7000-8000-000000000001', index: 3, data: bytes };

describe('event types with a binary field', () => {
  it('register the JSON of their other fields; bytes are validated as bytes', () => {
    const catalog = createCatalog(blobEventTypes, 'shop');
    const schema = catalog.jsonSchemaOf('BlobChunk') as { properties: object; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(['blobId', 'upload', 'index']);
    expect(schema.required).not.toContain('data');
    expect(catalog.prepare([{ type: 'BlobChunk', data: chunk }])[0]!.data).toEqual(chunk);
    expect(() => catalog.prepare([{ type: 'BlobChunk', data: { ...chunk, data: 'aGVsbG8=' } }])).toThrow(
      /events failed validation/,
    );
    expect(() =>
      catalog.prepare([{ type: 'BlobChunk', data: { ...chunk, data: Buffer.alloc(600 * 1024) } }]),
    ).toThrow(/events failed validation/);
  });

  it('must name a field of an object schema', () => {
    expect(() => defineEventType('X', z.object({ a: z.string() }), { binary: 'b' })).toThrow(
      /binary field "b"/,
    );
    expect(() => defineEventType('Y', z.string(), { binary: 'b' })).toThrow(/binary field "b"/);
  });
});

describe('the codec with a binary field', () => {
  const codec = createCodec(createInProcessRegistry(), createCatalog(blobEventTypes, 'shop'));

  it('writes the bytes as they are, after the registry-framed JSON of the other fields', async () => {
    const payload = await codec.encode('BlobChunk', chunk);
    expect(payload[0]).toBe(0x01);
    const framed = payload.readUInt32BE(1);
    expect(payload[5]).toBe(0x00); // a registry frame inside
    const json = JSON.parse(payload.subarray(10, 5 + framed).toString('utf8'));
    expect(json).toEqual({ blobId: 'b-1', upload: chunk.upload, index: 3 });
    expect(payload.subarray(5 + framed).equals(bytes)).toBe(true);
    expect(payload.length).toBe(5 + framed + bytes.length);

    const decoded = (await codec.decode('BlobChunk', payload)) as typeof chunk;
    expect(decoded).toEqual(chunk);
    expect(Buffer.isBuffer(decoded.data)).toBe(true);
  });

  it('refuses what is not bytes, and frames that do not add up', async () => {
    await expect(codec.encode('BlobChunk', { ...chunk, data: 'x' })).rejects.toThrow(/"data" must be bytes/);
    const payload = await codec.encode('BlobChunk', chunk);
    await expect(codec.decode('BlobChunk', Buffer.from([0x01, 0, 0]))).rejects.toThrow(
      /shorter than its header/,
    );
    const lying = Buffer.from(payload.subarray(0, 40));
    await expect(codec.decode('BlobChunk', lying)).rejects.toThrow(/shorter than its header/);
    await expect(codec.decode('BlobCommitted', payload)).rejects.toThrow(/has no binary field/);
  });
});

describe('JSON views of bytes', () => {
  it('show top-level bytes as { $base64 } and read them back', () => {
    const json = toJsonData(chunk) as Record<string, unknown>;
    expect(json.data).toEqual({ $base64: bytes.toString('base64') });
    expect(fromJsonData(JSON.parse(JSON.stringify(json)))).toEqual(chunk);
    const plain = { a: 1, b: { $base64: 'x', other: 1 } };
    expect(toJsonData(plain)).toBe(plain);
    expect(fromJsonData(plain)).toBe(plain);
    expect(toJsonData([bytes])).toEqual([bytes]);
  });
});

describe('archive lines', () => {
  const recorded = (data: unknown): RecordedEvent => ({
    id: '0190f1e2-0000-7000-8000-0000000000aa' as EventId,
    stream: 'blob-b-1' as StreamId,
    type: BlobChunk.name,
    version: 4,
    data,
    metadata: { actor: 'ü "quoted" \\ data":null' },
    position: { topic: 't', partition: 1, offset: 12_345_678_901_234n },
    recordedAt: '2026-11-28T12:00:00.000Z',
  });

  it('carry bytes as base64 in JSON, written in slices, and read back as they were', () => {
    const e = recorded({ meta: { data: null, nested: [1, 'two'] }, skipped: undefined, ...chunk, tail: 'ß' });
    const line = Buffer.concat(toLine(e)).toString('utf8');
    expect(line).not.toContain('\n');
    expect(JSON.parse(line).data.data).toEqual({ $base64: bytes.toString('base64') });
    const back = fromLine(line);
    const { skipped: _, ...data } = e.data as Record<string, unknown>;
    expect(back).toEqual({ ...e, data });
    expect(Buffer.isBuffer((back.data as typeof chunk).data)).toBe(true);
  });

  it('write events without bytes as plain JSON', () => {
    const e = recorded({ orderId: 'o-1' });
    const pieces = toLine(e);
    expect(pieces).toHaveLength(1);
    expect(fromLine(pieces[0]!.toString('utf8'))).toEqual(e);
  });
});
