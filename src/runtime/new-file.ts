/**
 * A new file written whole or not at all, the first half of every write-then-rename in ailinux (the lock's owner
 * record, the work dir's mark, the fingerprint key): created afresh (O_EXCL, O_NOFOLLOW: never into whatever
 * stands at the name, never through a link), every byte written, synced, closed. On any failure, a full disk
 * above all, the partial file is removed, so nothing half written is left for the rename or link that follows.
 */
import fs from 'node:fs';

export function writeNewFileWhole(file: string, data: string | Uint8Array, mode: number): void {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  try {
    // write(2) may write less than asked (a disk filling up): loop until all bytes are out
    for (let offset = 0; offset < bytes.length; ) offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw error;
  }
  fs.closeSync(fd);
}
