// The append benchmark's workload, shared by its in-process runs (bench/append.ts) and its HTTP client
// process (bench/append-http-client.ts): batches of OrderShipped over a fixed set of streams, each
// append naming the version its stream is at.

export const event = (orderId: string) => ({
  type: 'OrderShipped',
  data: { orderId, carrier: 'DHL' },
});

export const batchOf = (i: number, batch: number, streams: number) =>
  Array.from({ length: batch }, () => event(String(i % streams)));

/**
 * Real expected versions: each append names the version its stream is at (appends to one stream follow
 * each other; streams ≫ concurrency keeps them apart anyway). `send` appends one batch.
 */
export const withVersions =
  (
    batch: number,
    streams: number,
    send: (stream: string, expectedVersion: number, i: number) => Promise<void>,
  ) =>
  (prefix: string) => {
    const versions = new Map<string, number>();
    const tails = new Map<string, Promise<void>>();
    return async (i: number) => {
      const stream = `${prefix}${i % streams}`;
      const turn = (tails.get(stream) ?? Promise.resolve()).then(async () => {
        const expected = versions.get(stream) ?? 0;
        await send(stream, expected, i);
        versions.set(stream, expected + batch);
      });
      tails.set(stream, turn);
      await turn;
    };
  };
