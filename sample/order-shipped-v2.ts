import { z } from 'zod';
import { defineEventType } from '../core/log/event-types.ts';

/**
 * Upcasting, by example: OrderShipped at version 2 adds `service`. For BACKWARD compatibility the
 * registered schema keeps it optional; the upcaster gives records written with version 1 the value
 * they meant ('standard'), so handlers always see a v2 event, whatever version was written.
 */
export const OrderShippedV2 = defineEventType(
  'OrderShipped',
  z
    .object({
      orderId: z.string().min(1),
      carrier: z.string().min(1),
      service: z.enum(['standard', 'express']).optional(),
    })
    .strict(),
  {
    upcast: (data, schemaVersion) =>
      schemaVersion === 1 ? { ...(data as object), service: 'standard' } : data,
  },
);
