// What only logfront appends: a blob's chunks and commit come from the blob service (PUT /v1/blobs/{id}),
// so an append can neither write to the blob category nor send a blob event type to another stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import { ValidationFailed } from '../../core/errors.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import { embeddedConfig, uniqueId } from '../support/services.ts';

const commit = (blobId: string) => ({
  id: uuidv7(),
  type: 'BlobCommitted',
  data: {
    blobId,
    upload: uuidv7(),
    size: 0,
    contentType: 'application/octet-stream',
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    chunks: 0,
  },
});

describe('appends never write what only logfront writes', () => {
  let lf: Logfront;
  beforeAll(async () => {
    lf = await createLogfront(embeddedConfig());
  });
  afterAll(async () => {
    await lf?.close();
  });

  const refusal = async (stream: string, events: unknown[]) => {
    const error = await lf.append.appendToStream(stream, { events }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationFailed);
    return (error as ValidationFailed).details().issues;
  };

  it('a forged blob commit in the blob category is refused, naming the stream and what to use', async () => {
    const blobId = `forged${uniqueId()}`;
    expect(await refusal(`blob-${blobId}`, [commit(blobId)])).toEqual([
      {
        path: 'stream',
        message: 'category blob is written by logfront only: upload blobs with PUT /v1/blobs/{id}',
      },
    ]);
    expect(await lf.log.readStream(`blob-${blobId}` as never, 1, 10)).toEqual([]);
  });

  it('a blob event type in another category is refused, naming the event', async () => {
    const stream = `order-${uniqueId()}`;
    const placed = {
      id: uuidv7(),
      type: 'OrderPlaced',
      data: { orderId: stream, customerId: 'c', total: 1 },
    };
    expect(await refusal(stream, [placed, commit('x')])).toEqual([
      { path: 'events.1.type', message: 'written by logfront only: upload blobs with PUT /v1/blobs/{id}' },
    ]);
    expect(await lf.log.readStream(stream as never, 1, 10)).toEqual([]);
  });
});
