// What a tenant's name and a data subject's id may be, in one place. The append path (metadata, the
// subject field of an event type), tokens and the erasure all check with these rules, so every subject an
// append accepts, in every tenant an append or a token can name, can be erased.
import { unstorableText } from '../log/storable.ts';

/** a tenant's name: in a token, an event's metadata and an erasure */
export const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const TENANT_NAME_RULE =
  "letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit";

/**
 * The longest data subject id, in UTF-16 code units: room for the longest stream id (265), which is the
 * subject of an event that names none, and within the 512 characters a path segment of the HTTP API holds.
 */
export const MAX_SUBJECT_ID = 300;
export const SUBJECT_ID_RULE = `1 to ${MAX_SUBJECT_ID} characters a store can hold (no NUL, no lone surrogate)`;

/**
 * why `id` cannot be a data subject's id, or undefined when it can. Any other character is allowed (a
 * customer id of the sample may hold a tab): the id is only ever stored, compared and HMAC'd.
 */
export const subjectIdProblem = (id: string): string | undefined => {
  if (id.length === 0 || id.length > MAX_SUBJECT_ID) return SUBJECT_ID_RULE;
  const unfit = unstorableText(id);
  return unfit ? `${SUBJECT_ID_RULE}: it ${unfit}` : undefined;
};
