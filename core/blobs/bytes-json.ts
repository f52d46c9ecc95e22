// Event data may hold bytes in a top-level field (an event type's `binary` field). Where data is
// written as JSON (the embedded log's table, archive objects, HTTP answers) the bytes are
// `{ "$base64": "…" }`, and read back as bytes.

type Data = Record<string, unknown>;
const isPlainObject = (v: unknown): v is Data => typeof v === 'object' && v !== null && !Array.isArray(v);

/** whether `data` is an object with bytes in a top-level field */
export const hasBytes = (data: unknown): data is Data =>
  isPlainObject(data) && Object.values(data).some((v) => v instanceof Uint8Array);

/** `data` with every top-level Uint8Array as `{ $base64 }`; `data` itself when it has none */
export const toJsonData = (data: unknown): unknown => {
  if (!hasBytes(data)) return data;
  const out: Data = {};
  for (const [k, v] of Object.entries(data)) {
    out[k] =
      v instanceof Uint8Array
        ? { $base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') }
        : v;
  }
  return out;
};

/** bytes are written as base64 in slices: no string as large as a blob chunk is ever made */
const BASE64_SLICE = 48 * 1024; // a multiple of 3, so the slices' base64 concatenates

/**
 * The JSON of `toJsonData(data)`, in pieces: a bytes field's base64 is written slice by slice, never as
 * one string (the archive writes blob chunks this way).
 */
export const toJsonDataPieces = (data: Data): Buffer[] => {
  const pieces = [Buffer.from('{')];
  let first = true;
  for (const [k, v] of Object.entries(data)) {
    if (v === undefined || typeof v === 'function') continue;
    pieces.push(Buffer.from(`${first ? '' : ','}${JSON.stringify(k)}:`));
    first = false;
    if (!(v instanceof Uint8Array)) {
      pieces.push(Buffer.from(JSON.stringify(v)));
      continue;
    }
    pieces.push(Buffer.from('{"$base64":"'));
    const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    for (let at = 0; at < bytes.length; at += BASE64_SLICE) {
      pieces.push(Buffer.from(bytes.subarray(at, at + BASE64_SLICE).toString('base64'), 'latin1'));
    }
    pieces.push(Buffer.from('"}'));
  }
  pieces.push(Buffer.from('}'));
  return pieces;
};

const isBytes = (v: unknown): v is { $base64: string } =>
  isPlainObject(v) && typeof v.$base64 === 'string' && Object.keys(v).length === 1;

/** the inverse of toJsonData */
export const fromJsonData = (data: unknown): unknown => {
  if (!isPlainObject(data) || !Object.values(data).some(isBytes)) return data;
  const out: Data = {};
  for (const [k, v] of Object.entries(data)) out[k] = isBytes(v) ? Buffer.from(v.$base64, 'base64') : v;
  return out;
};
