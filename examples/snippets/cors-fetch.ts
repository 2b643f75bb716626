import { POST as trpcHandler } from './adapter-fetch';

const cors = {
  'Access-Control-Allow-Origin': 'https://shop.example.com',
  'Access-Control-Allow-Headers': 'Content-Type, Authorization, Idempotency-Key',
  'Access-Control-Expose-Headers': 'Idempotent-Replayed',
};

// Around a route handler: answer the preflight, and add the CORS headers to every tRPC response.
export async function handler(req: Request): Promise<Response> {
  if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: cors });
  const response = await trpcHandler(req);
  for (const [name, value] of Object.entries(cors)) response.headers.set(name, value);
  return response;
}
export { handler as GET, handler as OPTIONS, handler as POST };
