/**
 * A config that records which fields are read: a proxy over a plain config object that reports the
 * dotted path of every value taken out of it. The step-fields test compares these reads with what
 * each step declares in `configFields`.
 *
 * - Only values are reads. Walking through an object on the way to a field (`config.iso` in
 *   `config.iso.bios`) is not: the object comes back as another recording proxy.
 * - An array is one value: taking it out of the config reads its whole path, and what is done with
 *   it afterwards (length, elements, iteration) is not tracked further.
 * - A field that is absent (an optional one, `branding.logo`, `helper`) is read too: its absence
 *   decides what the step does. Such a read is marked `absent`.
 * - Enumerating an object's keys (Object.keys, spread, JSON.stringify, for..in) reads the object as
 *   a whole, since the step then depends on keys that may appear later; the values taken out after
 *   the enumeration are recorded one by one as well.
 * - `'x' in obj` reads obj.x.
 */

export type ReadKind = 'value' | 'keys';

export interface ConfigRead {
  path: string;
  kind: ReadKind;
  /** The field was not there (an optional object such as `helper`): its absence is what the step read. */
  absent?: boolean;
}

/** Names JavaScript itself looks up on objects (JSON.stringify's toJSON, await's then, string conversion). */
const PROTOCOL_KEYS = new Set([
  'toJSON',
  'then',
  'constructor',
  'valueOf',
  'toString',
  'toLocaleString',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  '__proto__',
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Wraps config so that onRead hears of every field taken out of it; the config itself is not changed. */
export function recordingConfig<T extends object>(config: T, onRead: (read: ConfigRead) => void): T {
  const proxies = new Map<string, object>();
  const join = (prefix: string, key: string) => (prefix ? `${prefix}.${key}` : key);

  const wrap = (target: Record<string, unknown>, prefix: string): object => {
    const cached = proxies.get(prefix);
    if (cached) return cached;
    /** The value handed out for key: a recording proxy for an object, the value itself (recorded) otherwise. */
    const take = (key: string, value: unknown): unknown => {
      const at = join(prefix, key);
      if (isRecord(value)) return wrap(value, at);
      onRead(value === undefined ? { path: at, kind: 'value', absent: true } : { path: at, kind: 'value' });
      return value;
    };
    const proxy = new Proxy(target, {
      get(t, key, receiver) {
        const value = Reflect.get(t, key, receiver);
        if (typeof key === 'symbol') return value;
        if (PROTOCOL_KEYS.has(key) && !Object.hasOwn(t, key)) return value;
        return take(key, value);
      },
      has(t, key) {
        if (typeof key === 'string')
          onRead({ path: join(prefix, key), kind: 'value', ...(t[key] === undefined ? { absent: true } : {}) });
        return Reflect.has(t, key);
      },
      ownKeys(t) {
        onRead({ path: prefix, kind: 'keys' });
        return Reflect.ownKeys(t);
      },
      // only enumerations ask for descriptors, and ownKeys has recorded those; an object inside still records
      getOwnPropertyDescriptor(t, key) {
        const descriptor = Reflect.getOwnPropertyDescriptor(t, key);
        if (!descriptor || typeof key === 'symbol' || !isRecord(descriptor.value)) return descriptor;
        return { ...descriptor, value: wrap(descriptor.value, join(prefix, key)) };
      },
      set() {
        throw new Error(`a step wrote to the config (${prefix || 'config'})`);
      },
      deleteProperty() {
        throw new Error(`a step deleted from the config (${prefix || 'config'})`);
      },
    });
    proxies.set(prefix, proxy);
    return proxy;
  };

  return wrap(config as Record<string, unknown>, '') as T;
}
