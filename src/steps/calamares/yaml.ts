/** Just enough YAML for Calamares' config files: every scalar double-quoted (a JSON string is a valid YAML one). */
export function yamlString(text: string): string {
  return JSON.stringify(text);
}

export function yamlList(items: readonly string[], indent: string): string[] {
  return items.map((i) => `${indent}- ${yamlString(i)}`);
}

/** The header every file ailinux writes for Calamares carries. */
export const GENERATED = '# Written by ailinux from the profile; edit the config, not this file.';
