import { z } from 'zod';

/** Every error answer of the REST API. */
export const ApiError = z
  .object({
    message: z.string().describe('what went wrong; names the field for invalid input'),
    code: z.string().describe('a tRPC error code such as BAD_REQUEST or NOT_FOUND'),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Error' });
export type ApiError = z.infer<typeof ApiError>;
