/** The OCI distribution error body (`{"errors":[{code,message,detail}]}`) every /v2 refusal carries. */
import type { Response } from 'express';

export function ociError(res: Response, status: number, code: string, message: string, detail?: unknown): void {
  res.status(status).type('application/json').send(JSON.stringify({ errors: [{ code, message, ...(detail ? { detail } : {}) }] }));
}
