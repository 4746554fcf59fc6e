import type { ConfigInput } from '../schema.js';
import { ailinuxProfile } from './ailinux.js';
import { minimalProfile } from './minimal.js';

export const DEFAULT_PROFILE = 'ailinux';

export const builtInProfiles: Readonly<Record<string, ConfigInput>> = {
  ailinux: ailinuxProfile,
  minimal: minimalProfile,
};
