/** The audit log: every start, stop, key change and refused attempt, one record each. No secrets. */
import type { AuditList, AuditListInput, AuditRecord } from '../../../shared/src/schemas/auth';
import { AuditListInput as AuditListSchema } from '../../../shared/src/schemas/auth';
import { badRequest } from '../errors';
import type { AuditStore } from '../store/authStore';
import { InvalidCursorError } from '../store/cursor';

export type AuditEntry = Omit<AuditRecord, 'id' | 'at' | 'detail' | 'run_id' | 'ip'> & { detail?: string | null; run_id?: string | null; ip?: string | null };

export class AuditLog {
  constructor(
    private readonly store: AuditStore,
    private readonly onError: (e: unknown) => void,
  ) {}

  /** Records an entry; a failure to record is reported, never thrown at the caller. */
  record(entry: AuditEntry): void {
    this.store
      .append({ at: new Date().toISOString(), detail: null, run_id: null, ip: null, ...entry })
      .catch(this.onError);
  }

  async list(input: AuditListInput): Promise<AuditList> {
    try {
      return await this.store.list(AuditListSchema.parse(input));
    } catch (e) {
      if (e instanceof InvalidCursorError) throw badRequest(`cursor: ${e.message}`);
      throw e;
    }
  }
}
