import type { Role } from '../../../../shared/src/schemas/auth';

/** The end of the year 9999, the latest time an ISO date shows in four digits: a token's `exp` past it (say 1e300) counts as this. */
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** When a token whose `exp` claim is `expS` (epoch seconds), plus `toleranceS`, stops being valid (epoch ms). */
export function expiryOf(expS: number, toleranceS = 0): number {
  return Math.min((expS + toleranceS) * 1000, LATEST);
}

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
