// Event data may hold bytes in a top-level field (an event type's `binary` field). Where data is
// written as JSON (the embedded log's table, archive objects, HTTP answers) the bytes are
// `{ "$base64": "…" }`, and read back as bytes.

type Data = Record<string, unknown>;
const isPlainObject = (v: unknown): v is Data => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `data` with every top-level Uint8Array as `{ $base64 }`; `data` itself when it has none */
export const toJsonData = (data: unknown): unknown => {
  if (!isPlainObject(data) || !Object.values(data).some((v) => v instanceof Uint8Array)) return data;
  const out: Data = {};
  for (const [k, v] of Object.entries(data)) {
    out[k] =
      v instanceof Uint8Array
        ? { $base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') }
        : v;
  }
  return out;
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
