// What each route of the HTTP API needs: the scope, and the resource it acts on (for the ACL hook and the
// audit). The server checks it on every request; the OpenAPI document declares it per route.
import type { Access, Scope } from '../core/security/auth.ts';

/** the scope a route needs and what it acts on; undefined: any authenticated principal (openapi.json, 404s) */
export const accessOf = (
  method: string,
  route: string | undefined,
  params: Record<string, string>,
): Access | undefined => {
  const stream = (action: Scope): Access => ({
    action,
    resource: {
      kind: 'stream',
      name: params.stream,
      category: params.stream?.split('-')[0],
    } as Access['resource'],
  });
  const projection = (action: Scope): Access => ({
    action,
    resource: { kind: 'projection', name: params.name },
  });
  switch (`${method} ${route}`) {
    case 'POST /v1/streams/:stream/events':
      return stream('append');
    case 'GET /v1/streams/:stream/events':
      return stream('read');
    case 'GET /v1/projections':
      return { action: 'read', resource: { kind: 'projection' } };
    case 'GET /v1/projections/:name/rows/:key':
    case 'GET /v1/projections/:name/rows':
      return projection('read');
    case 'POST /v1/projections/:name/rebuild':
    case 'GET /v1/projections/:name/dead-letters':
    case 'POST /v1/projections/:name/dead-letters/:id/retry':
    case 'POST /v1/projections/:name/dead-letters/:id/skip':
    case 'POST /v1/projections/:name/resume':
      return projection('admin');
    case 'PUT /v1/blobs/:blobId':
      return { action: 'append', resource: { kind: 'blob', name: params.blobId } };
    case 'GET /v1/blobs/:blobId':
    case 'HEAD /v1/blobs/:blobId':
      return { action: 'read', resource: { kind: 'blob', name: params.blobId } };
    case 'GET /v1/audit':
      return { action: 'admin', resource: { kind: 'audit' } };
    case 'DELETE /v1/subjects/:subjectId':
      return { action: 'erase', resource: { kind: 'subject' } };
    case 'GET /metrics':
      return { action: 'metrics', resource: { kind: 'metrics' } };
    default:
      return undefined;
  }
};
