import type { Role } from '../../../../shared/src/schemas/auth';

/** Who is asking, once their credential has been verified. */
export interface Principal {
  /** key:<id>, jwt:<sub>, env:ADMIN_API_KEY or anonymous (auth disabled). Recorded on runs and in the audit log. */
  id: string;
  role: Role | null;
  /** When the credential stops being valid (epoch ms), for JWTs. */
  expiresAt: number | null;
  /** Set for a log token: the one run whose log it may read. */
  runId?: string;
}
