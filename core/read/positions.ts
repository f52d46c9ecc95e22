import { ValidationFailed } from '../errors.ts';
import type { Brand, Position } from '../types.ts';

/** Opaque position token: base64url of `[[topic, partition, "offset"], …]`. One entry per partition. */
export type PositionToken = Brand<string, 'PositionToken'>;

export const encodePositions = (positions: readonly Position[]): PositionToken =>
  Buffer.from(
    JSON.stringify(positions.map((p) => [p.topic, p.partition, p.offset.toString()])),
    'utf8',
  ).toString('base64url') as PositionToken;

export const encodePosition = (position: Position): PositionToken => encodePositions([position]);

const MAX_OFFSET = 2n ** 63n - 1n;

const invalid = (field: string) =>
  new ValidationFailed('invalid position token', [
    { path: field, message: 'not a position token from logfront' },
  ]);

export const decodePositions = (token: string, field = 'after'): Position[] => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    // not JSON: refused below, with everything else that is not a list of positions
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw invalid(field);
  return parsed.map((entry) => {
    if (
      !Array.isArray(entry) ||
      entry.length !== 3 ||
      typeof entry[0] !== 'string' ||
      !Number.isInteger(entry[1]) ||
      entry[1] < 0 ||
      entry[1] > 2 ** 31 - 1 ||
      typeof entry[2] !== 'string' ||
      !/^\d{1,19}$/.test(entry[2]) ||
      BigInt(entry[2]) > MAX_OFFSET
    ) {
      throw invalid(field);
    }
    return { topic: entry[0], partition: entry[1] as number, offset: BigInt(entry[2]) };
  });
};

export const partitionKey = (topic: string, partition: number) => `${topic}/${partition}`;

/** true when every position in `wanted` is below the next offset to apply in `applied`. */
export const covers = (applied: ReadonlyMap<string, bigint>, wanted: readonly Position[]) =>
  wanted.every((p) => (applied.get(partitionKey(p.topic, p.partition)) ?? -1n) > p.offset);
