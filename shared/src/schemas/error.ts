import { z } from 'zod';

/** One field at fault in an invalid input. */
export const ApiIssue = z.object({
  path: z.string().describe('the field, dotted from the top of the input (`params.count`), or `(body)` for the body as a whole'),
  message: z.string(),
});
export type ApiIssue = z.infer<typeof ApiIssue>;

/** Every error answer of the REST API. */
export const ApiError = z
  .object({
    message: z.string().describe('what went wrong; names the field for invalid input'),
    code: z.string().describe('a tRPC error code such as BAD_REQUEST or NOT_FOUND'),
    issues: z.array(ApiIssue).optional().describe('invalid input: each field at fault on its own'),
  })
  .meta({ id: 'Error' });
export type ApiError = z.infer<typeof ApiError>;
