import { z } from 'zod';
import { SEVERITIES } from './enums';

export { SEVERITIES } from './enums';

export const Severity = z.enum(SEVERITIES);
export type Severity = z.infer<typeof Severity>;

const count = z.number().int().nonnegative();

/** Findings by severity, with their total. */
export const SeverityCounts = z.object({ critical: count, high: count, medium: count, low: count, unknown: count, total: count }).meta({ id: 'SeverityCounts' });
export type SeverityCounts = z.infer<typeof SeverityCounts>;

/** The report formats a catalog entry can declare for an artifact, to be summarised (ocsf: Prowler's OCSF JSON). */
export const ReportFormat = z.enum(['trivy', 'grype', 'sarif', 'cyclonedx', 'spdx', 'lynis', 'ocsf']);
export type ReportFormat = z.infer<typeof ReportFormat>;

/** What a finished run's reports say, at a glance. Fields are null where no report speaks of them. */
export const RunSummary = z
  .object({
    reports: z.array(z.object({ artifact: z.string(), format: ReportFormat })).describe('the artifacts summarised'),
    findings: SeverityCounts.nullable().describe('vulnerabilities, misconfigurations, secrets, rule results and failed Prowler checks'),
    passed: count.nullable().describe('Prowler checks that passed'),
    manual: count.nullable().describe('Prowler checks it leaves to a manual review (status MANUAL)'),
    components: count.nullable().describe('packages in an SBOM'),
    licenses: z.array(z.object({ name: z.string(), count })).nullable().describe('the most frequent licences in an SBOM, at most 10'),
    hardening_index: z.number().int().min(0).max(100).nullable().describe("Lynis' hardening index"),
    warnings: count.nullable().describe('Lynis warnings'),
    suggestions: count.nullable().describe('Lynis suggestions'),
    new_since_previous: z
      .object({ run_id: z.string(), findings: SeverityCounts, warnings: count.nullable() })
      .nullable()
      .describe('what this run found that the previous finished run of the same tool did not'),
    notes: z.array(z.string()).describe('reports that were missing or could not be read'),
  })
  .meta({ id: 'RunSummary' });
export type RunSummary = z.infer<typeof RunSummary>;
