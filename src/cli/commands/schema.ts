/**
 * ailinux schema: the JSON Schema of the config as users write it, for editors. It is generated from the one config
 * schema (src/config/schema.ts) and then made to say what a config FILE is:
 * - every field of an object that merges over the profile is optional, since the profile it extends has a value
 *   (the merged config still must be whole; ailinux checks that when it loads). Entries of a list (an apt source, a
 *   helper file) and the alternatives of a choice replace what the profile had, so their own required fields stay;
 * - `extends` takes the names of the built-in profiles, and each entry of `steps` the ids of the registered steps;
 * - every object says what it is (a test checks each one has a description).
 */
import { DEFAULT_PROFILE, builtInProfiles } from '../../config/profiles/index.js';
import { configJsonSchema } from '../../config/schema.js';
import { allSteps } from '../../steps/registry.js';

type JsonSchema = Record<string, unknown> & {
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
};

/** Drops `required` from an object whose fields merge over the profile's, and from each such object under it. */
function optionalFields(node: JsonSchema): void {
  delete node.required;
  for (const child of Object.values(node.properties ?? {})) if (child.type === 'object') optionalFields(child);
}

export function userConfigJsonSchema(): Record<string, unknown> {
  const schema = configJsonSchema() as JsonSchema;
  optionalFields(schema);
  const props = schema.properties!;
  props['extends'] = {
    type: 'string',
    enum: Object.keys(builtInProfiles),
    default: DEFAULT_PROFILE,
    description: `${props['extends']?.['description'] ?? 'The built-in profile this config builds on'} (default: ${DEFAULT_PROFILE})`,
  };
  const steps = props['steps']!;
  steps.items = { type: 'string', enum: allSteps().map((s) => s.id), description: 'A step id' };
  // a hook follows a step, or a hook before it (hook-<name>); hook steps are never listed in steps
  const after = (props['hooks']?.['items'] as JsonSchema | undefined)?.properties?.['after'];
  if (after) {
    const description = after['description'];
    for (const key of Object.keys(after)) delete after[key];
    Object.assign(after, {
      description,
      anyOf: [
        { type: 'string', enum: allSteps().map((s) => s.id), description: 'A step id' },
        { type: 'string', pattern: '^hook-[a-z0-9][a-z0-9-]*$', description: 'An earlier hook: hook-<name>' },
      ],
    });
  }
  return schema;
}
