/**
 * Rules across fields: configs each field of which is valid, but that no build can finish. Checked at load with the
 * schema, before anything is written (exit 2), each naming its fields. docs/profiles.md lists them; the step list
 * against each step's `needs` is checked by resolveSteps (src/steps/registry.ts), where the steps are known.
 */
import { SYSTEM_ACCOUNTS } from './system-accounts.js';

/** What cross-field rules see: only the fields they read, so the schema can run them on its parsed output. */
export interface RuleInput {
  iso: { bios: boolean; uefi: boolean; secureBoot: boolean };
  liveUser: { name: string };
}

export interface CrossFieldRule {
  /** The fields the rule reads, dotted; the first is where the error is reported. */
  fields: readonly string[];
  /** The rule in words, for the docs. */
  rule: string;
  /** null when the config keeps the rule, else what is wrong and how to fix it. */
  check(config: RuleInput): string | null;
}

export const CROSS_FIELD_RULES: readonly CrossFieldRule[] = [
  {
    fields: ['iso.bios', 'iso.uefi'],
    rule: 'at least one boot firmware',
    check: (c) =>
      c.iso.bios || c.iso.uefi
        ? null
        : 'at least one boot firmware: iso.bios and iso.uefi are both false, so nothing could boot the image (set one to true)',
  },
  {
    fields: ['iso.secureBoot', 'iso.uefi'],
    rule: 'Secure Boot only with UEFI',
    check: (c) =>
      !c.iso.secureBoot || c.iso.uefi
        ? null
        : 'iso.uefi true: iso.secureBoot is on, but Secure Boot is a UEFI feature and iso.uefi is false (set iso.uefi: true, or iso.secureBoot: false)',
  },
  {
    fields: ['liveUser.name'],
    rule: "a live user that is not a system account (root, or any name in base-passwd's passwd.master)",
    check: (c) =>
      SYSTEM_ACCOUNTS.has(c.liveUser.name)
        ? `a name that is not a system account: "${c.liveUser.name}" is one of base-passwd's (${[...SYSTEM_ACCOUNTS].join(', ')}), which the image already has`
        : null,
  },
];
