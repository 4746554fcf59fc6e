/** Recognising what a file is from its first bytes, read straight out of the image file. */
import fs from 'node:fs';

export const ISO_BLOCK = 2048;
/** Bytes read from the start of each file of interest: enough for every signature below. */
export const HEAD_BYTES = 1024;

/** Reads up to `length` bytes at `offset`; shorter at the end of the file. */
export function readAt(file: string, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const fd = fs.openSync(file, 'r');
  try {
    const n = fs.readSync(fd, buf, 0, length, offset);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/** ISO 9660: a volume descriptor with the standard identifier CD001 at block 16. */
export function isIso9660(head: Buffer): boolean {
  return head.subarray(16 * ISO_BLOCK + 1, 16 * ISO_BLOCK + 6).toString('latin1') === 'CD001';
}

/** An x86 Linux kernel image: the boot protocol header "HdrS" at 0x202. */
export function isLinuxKernel(head: Buffer): boolean {
  return head.subarray(0x202, 0x206).toString('latin1') === 'HdrS';
}

const INITRD_MAGICS: ReadonlyArray<[string, Buffer]> = [
  ['cpio', Buffer.from('070701')],
  ['cpio', Buffer.from('070702')],
  ['cpio', Buffer.from('070707')],
  ['gzip', Buffer.from([0x1f, 0x8b])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['lzma', Buffer.from([0x5d, 0x00, 0x00])],
  ['lz4', Buffer.from([0x02, 0x21, 0x4c, 0x18])],
  ['bzip2', Buffer.from('BZh')],
  ['lzop', Buffer.from([0x89, 0x4c, 0x5a, 0x4f])],
];

/** An initramfs: a cpio archive (Ubuntu's starts with an uncompressed microcode one) or a compressed one. */
export function initrdFormat(head: Buffer): string | null {
  for (const [name, magic] of INITRD_MAGICS) if (head.subarray(0, magic.length).equals(magic)) return name;
  return null;
}

export function isSquashfs(head: Buffer): boolean {
  return head.subarray(0, 4).toString('latin1') === 'hsqs';
}

/** A FAT file system image: the boot sector signature and a FAT type string (FAT12/16 at 0x36, FAT32 at 0x52). */
export function isFatImage(head: Buffer): boolean {
  if (head.length < 512 || head[510] !== 0x55 || head[511] !== 0xaa) return false;
  return (
    head.subarray(0x36, 0x39).toString('latin1') === 'FAT' || head.subarray(0x52, 0x55).toString('latin1') === 'FAT'
  );
}
