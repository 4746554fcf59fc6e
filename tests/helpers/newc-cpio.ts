/** A tiny writer of cpio "newc" archives, the format the Linux kernel unpacks as an initramfs. */

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer | string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function record(
  ino: number,
  name: string,
  mode: number,
  data: Buffer,
  rdev: [number, number] = [0, 0],
  nlink = 1,
): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`);
  const header = Buffer.from(
    `070701${[ino, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0].map(hex8).join('')}`,
    'latin1',
  );
  return [header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length)];
}

/** The archive for entries, in order (parents before children); paths are relative, without a leading slash. */
export function writeNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((entry, i) => {
    const name = entry.path.replace(/^\/+/, '');
    const ino = i + 1;
    switch (entry.type) {
      case 'dir':
        parts.push(...record(ino, name, S_IFDIR | (entry.mode ?? 0o755), Buffer.alloc(0), [0, 0], 2));
        break;
      case 'file':
        parts.push(
          ...record(
            ino,
            name,
            S_IFREG | (entry.mode ?? 0o644),
            Buffer.isBuffer(entry.data) ? entry.data : Buffer.from(entry.data),
          ),
        );
        break;
      case 'symlink':
        parts.push(...record(ino, name, S_IFLNK | 0o777, Buffer.from(entry.target)));
        break;
      case 'char':
        parts.push(...record(ino, name, S_IFCHR | (entry.mode ?? 0o600), Buffer.alloc(0), [entry.major, entry.minor]));
        break;
    }
  });
  parts.push(...record(0, 'TRAILER!!!', 0, Buffer.alloc(0), [0, 0], 1));
  return Buffer.concat(parts);
}
