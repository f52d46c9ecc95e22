// An erasure deletes the subject's blobs after its keys and rows, and records each deletion, also when
// a later one fails.
import { describe, expect, it } from 'vitest';
import type { AuditInput } from '../../core/security/audit.ts';
import type { FieldCipher } from '../../core/security/crypto.ts';
import { createErasure, type SubjectBlob } from '../../core/security/erasure.ts';

const setup = (blobs: SubjectBlob[], failOn?: string) => {
  const recorded: AuditInput[][] = [];
  const offered: AuditInput[] = [];
  const steps: string[] = [];
  const asked: string[] = [];
  const erasure = createErasure({
    cipher: {
      forget: async () => {
        steps.push('keys');
        return 1;
      },
    } as unknown as FieldCipher,
    projections: [{ name: 'orders', subject: 'customerId' }],
    deleteRows: async () => {
      steps.push('rows');
      return 0;
    },
    blobs: {
      of: async (tenant, subjectId) => {
        asked.push(`${tenant}/${subjectId}`);
        return blobs;
      },
      delete: async (blob) => {
        if (blob.blobId === failOn) throw new Error('s3 is down');
        steps.push(`blob ${blob.blobId}`);
      },
    },
    audit: {
      subjectRef: () => 'hmac:x',
      record: async (...entries) => {
        recorded.push(entries);
      },
      offer: (entry) => {
        offered.push(entry);
      },
    },
  });
  return { erasure, recorded, offered, steps, asked };
};

const blob = (blobId: string): SubjectBlob => ({ blobId, upload: `u-${blobId}`, key: `t/blobs/${blobId}/u` });
const request = { actor: 'ops', tenant: 'acme' };

describe("an erasure and the subject's blobs", () => {
  it('deletes them after the keys and rows, records object.deleted for each, and counts them', async () => {
    const s = setup([blob('a'), blob('b')]);
    expect(await s.erasure.erase('c-ada', request)).toMatchObject({ blobsDeleted: 2, keysDestroyed: 1 });
    expect(s.asked).toEqual(['acme/c-ada']);
    expect(s.steps).toEqual(['keys', 'rows', 'blob a', 'blob b']);
    expect(s.recorded[1]!.map((e) => `${e.action} ${e.resource} ${e.outcome}`)).toEqual([
      'object.deleted blob/a success',
      'object.deleted blob/b success',
      'subject.erased subject/hmac:x success',
    ]);
    expect(s.recorded[1]![0]).toMatchObject({
      actor: 'ops',
      tenant: 'acme',
      details: { kind: 'blob', key: 't/blobs/a/u', subject: 'hmac:x' },
    });
    expect(s.recorded[1]![2]!.details).toMatchObject({ blobsDeleted: 2 });
  });

  it('a blob that cannot be deleted fails the erasure; the ones deleted before it are still recorded', async () => {
    const s = setup([blob('a'), blob('b'), blob('c')], 'b');
    await expect(s.erasure.erase('c-ada', request)).rejects.toThrow(/s3 is down/);
    expect(s.offered.map((e) => `${e.action} ${e.resource} ${e.outcome}`)).toEqual([
      'object.deleted blob/a success',
      'subject.erased subject/hmac:x failure',
    ]);
  });

  it('without a blob store there is nothing to delete', async () => {
    const erasure = createErasure({
      cipher: { forget: async () => 0 } as unknown as FieldCipher,
      projections: [],
      deleteRows: async () => 0,
      audit: { subjectRef: () => 'hmac:x', record: async () => {}, offer: () => {} },
    });
    expect(await erasure.erase('c-ada', request)).toMatchObject({ blobsDeleted: 0 });
  });
});
