/**
 * The one config schema: validates at the edge and generates the JSON Schema for editors.
 * Value grammars (package names, hostnames, user names) are the real ones, since values reach argv.
 */
import { z } from 'zod';

/** Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters; starts alphanumeric. */
export const debianPackageName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9+.-]+$/, 'a Debian package name (lower-case letters, digits, + - ., starting with a letter or digit)');

/** RFC 1123 host name label(s), at most 253 characters. */
export const hostname = z
  .string()
  .max(253)
  .regex(/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/, 'an RFC 1123 host name (letters, digits and inner hyphens, labels up to 63 characters)');

/** POSIX portable user name, as useradd accepts it by default. */
export const userName = z
  .string()
  .max(32)
  .regex(/^[a-z_][a-z0-9_-]*$/, 'a user name (lower-case letter or _, then lower-case letters, digits, _ or -)');

const suiteName = z.string().regex(/^[a-z][a-z0-9-]*$/, 'a suite name such as bookworm or noble');
const componentName = z.string().regex(/^[a-z][a-z0-9-]*$/, 'an archive component such as main or universe');
const mirrorUrl = z
  .string()
  .regex(/^(https?|file):\/\/[^\s'"`$;&|<>\\]+$/, 'an http://, https:// or file:// URL without spaces or shell characters');
const absoluteHostPath = z
  .string()
  .regex(/^\/[^\0\n]*$/, 'an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'a path without ".." parts');
const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, 'a sha256 in lower-case hex (64 characters)');
/** ISO 9660 volume ids: up to 32 characters of A-Z 0-9 _ (and - . which xorriso accepts). */
const volumeLabel = z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'a volume label of 1 to 32 letters, digits, _ - or .');
const outputName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'a file name of letters, digits, _ - and . (no slashes)');
const kernelArg = z.string().regex(/^[A-Za-z0-9_.,:=/+@-]+$/, 'a kernel argument without spaces or quotes');
const localeName = z.string().regex(/^[A-Za-z]{1,8}(_[A-Za-z]{2})?(\.[A-Za-z0-9-]+)?(@[a-z]+)?$/, 'a locale such as C.UTF-8 or en_US.UTF-8');
const timezone = z.string().regex(/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/, 'a time zone such as Etc/UTC or Europe/Berlin');

export const aptSourceSchema = z
  .object({
    uri: mirrorUrl,
    suites: z.array(suiteName).min(1),
    components: z.array(componentName).min(1),
    signedBy: absoluteHostPath.optional().describe('Path of the key inside the image (Signed-By)'),
  })
  .strict();

export const configSchema = z
  .object({
    $schema: z.string().optional().describe('Path or URL of the JSON Schema, for editors'),
    extends: z.string().regex(/^[a-z][a-z0-9-]*$/).optional().describe('The built-in profile this config builds on'),
    name: z.string().min(1).max(64).describe('Profile name'),
    description: z.string().max(500).default(''),
    architecture: z.enum(['amd64']).default('amd64'),
    distribution: z
      .object({
        family: z.enum(['debian', 'ubuntu']),
        suite: suiteName,
        mirror: mirrorUrl,
        components: z.array(componentName).min(1),
        /** Keyring that verifies the archive; needed on hosts that do not ship the target's keyring. */
        keyring: z
          .object({ path: absoluteHostPath, sha256: sha256Hex.optional() })
          .strict()
          .optional(),
        /** debootstrap script to use when the host's debootstrap does not know the suite (noble on bookworm: gutsy). */
        debootstrapScript: absoluteHostPath.optional(),
        /** apt sources written into the image. */
        sources: z.array(aptSourceSchema).min(1),
      })
      .strict(),
    bootstrap: z
      .object({
        tool: z.enum(['debootstrap', 'mmdebstrap']).default('debootstrap'),
        variant: z.enum(['minbase', 'buildd', 'default']).default('minbase'),
        include: z.array(debianPackageName).default([]),
      })
      .strict()
      .prefault({}),
    liveSystem: z.enum(['live-boot', 'casper']).describe('live-boot (Debian, boot=live) or casper (Ubuntu, boot=casper)'),
    packages: z
      .object({
        live: z.array(debianPackageName).min(1).describe('Userland and live system, installed first'),
        kernel: z.array(debianPackageName).min(1).describe('Kernel, in its own apt call so the initramfs is built once'),
        desktop: z.array(debianPackageName).default([]),
        installer: z.array(debianPackageName).default([]),
        extra: z.array(debianPackageName).default([]),
        installRecommends: z.boolean().default(false),
      })
      .strict(),
    hostname,
    liveUser: z
      .object({
        name: userName,
        fullName: z.string().regex(/^[^:,\n\0]*$/, 'a full name without : , or newlines').max(100).default('Live user'),
        groups: z.array(userName).default([]),
        shell: absoluteHostPath.default('/bin/bash'),
        password: z.string().regex(/^[^:\n\0]*$/, 'a password without : or newlines').max(128).default('live'),
      })
      .strict(),
    locale: z
      .object({
        lang: localeName.default('C.UTF-8'),
        generate: z.array(localeName).default([]),
        timezone: timezone.default('Etc/UTC'),
        keyboardLayout: z.string().regex(/^[a-z]{2,8}$/).default('us'),
      })
      .strict()
      .prefault({}),
    squashfs: z
      .object({
        compression: z.enum(['zstd', 'xz', 'lz4', 'gzip']).default('zstd'),
        level: z.number().int().min(1).max(22).optional().describe('Compression level (zstd 1-22, gzip 1-9)'),
        exclude: z.array(z.string().regex(/^[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/, 'a path relative to the rootfs')).default(['boot']),
      })
      .strict()
      .prefault({}),
    iso: z
      .object({
        volumeLabel,
        outputName,
        bios: z.boolean().default(true),
        uefi: z.boolean().default(true),
        kernelArgs: z.array(kernelArg).default([]),
        menuTimeout: z.number().int().min(0).max(300).default(5),
        serialConsole: z.boolean().default(true).describe('GRUB and the kernel also use ttyS0, so a headless boot can be watched'),
      })
      .strict(),
    verify: z
      .object({
        boot: z.boolean().default(false).describe('The verify step also boots the ISO in qemu and waits for the marker'),
        bios: z.boolean().default(true),
        uefi: z.boolean().default(false),
        marker: z.string().min(1).max(200).regex(/^[^\n\0]+$/, 'one line of text').default('login:').describe('Text on the serial console that proves the live system came up'),
        timeoutSec: z.number().int().min(10).max(3600).default(300),
        memoryMb: z.number().int().min(256).max(16384).default(1024),
      })
      .strict()
      .prefault({}),
    resources: z
      .object({
        minFreeDiskMb: z.number().int().min(0).max(1_000_000).default(1024).describe('Below this much free space in the work dir a running step is stopped and the build pauses'),
        checkEstimates: z.boolean().default(true).describe("Before each step, pause unless its estimated need plus the floor is free"),
        sampleIntervalMs: z.number().int().min(100).max(60_000).default(2000),
      })
      .strict()
      .prefault({}),
    retry: z
      .object({
        maxAttempts: z.number().int().min(1).max(10).default(3),
        backoffMs: z.number().int().min(0).max(600_000).default(5000),
        backoffFactor: z.number().min(1).max(10).default(2),
      })
      .strict()
      .prefault({}),
    steps: z.array(z.string().regex(/^[a-z][a-z0-9-]*$/)).min(1).describe('The ordered step list of the build'),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type BuildConfig = z.output<typeof configSchema>;

/** The JSON Schema editors use for ailinux.config.json and .yaml. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
