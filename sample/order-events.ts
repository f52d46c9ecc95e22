import { z } from 'zod';
import { defineEventType } from '../core/log/event-types.ts';

// The sample domain of API.md: category `order`, streams `order-<orderId>`.

export const OrderPlaced = defineEventType(
  'OrderPlaced',
  z
    .object({
      orderId: z.string().min(1),
      customerId: z.string().min(1),
      customerEmail: z.email(),
      items: z
        .array(
          z.object({
            sku: z.string().min(1),
            qty: z.int().min(1),
            priceCents: z.int().min(0),
          }),
        )
        .min(1),
      totalCents: z.int().min(0),
    })
    .strict(),
  // the customer is the data subject unless metadata.subject names one; erasing it shreds the email
  { sensitive: ['customerEmail'], subject: 'customerId' },
);

export const OrderShipped = defineEventType(
  'OrderShipped',
  z.object({ orderId: z.string().min(1), carrier: z.string().min(1) }).strict(),
);

export const OrderCancelled = defineEventType(
  'OrderCancelled',
  z.object({ orderId: z.string().min(1), reason: z.string().min(1) }).strict(),
);

export const orderEventTypes = [OrderPlaced, OrderShipped, OrderCancelled];

export type OrderPlacedData = z.infer<typeof OrderPlaced.schema>;
export type OrderShippedData = z.infer<typeof OrderShipped.schema>;
export type OrderCancelledData = z.infer<typeof OrderCancelled.schema>;
