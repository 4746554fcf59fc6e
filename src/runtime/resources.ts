/** Disk, memory and load figures of the host, sampled while a build runs. Reads only. */
import fs from 'node:fs';
import os from 'node:os';

export interface ResourceSample {
  diskFreeBytes: number;
  memUsedBytes: number;
  load1: number;
}

export interface ResourcePeaks {
  minDiskFreeMb: number;
  peakMemUsedMb: number;
  peakLoad1: number;
  samples: number;
}

const MB = 1024 * 1024;

export function freeDiskBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Memory in use by the whole host: MemTotal - MemAvailable, as free(1) counts it. */
export function usedMemoryBytes(): number {
  try {
    const text = fs.readFileSync('/proc/meminfo', 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return kb('MemTotal') - kb('MemAvailable');
  } catch {
    return os.totalmem() - os.freemem();
  }
}

export function sampleResources(dir: string): ResourceSample {
  return { diskFreeBytes: freeDiskBytes(dir), memUsedBytes: usedMemoryBytes(), load1: os.loadavg()[0] ?? 0 };
}

export function addSample(peaks: ResourcePeaks | undefined, s: ResourceSample): ResourcePeaks {
  const disk = Math.floor(s.diskFreeBytes / MB);
  const mem = Math.ceil(s.memUsedBytes / MB);
  if (!peaks) return { minDiskFreeMb: disk, peakMemUsedMb: mem, peakLoad1: s.load1, samples: 1 };
  return {
    minDiskFreeMb: Math.min(peaks.minDiskFreeMb, disk),
    peakMemUsedMb: Math.max(peaks.peakMemUsedMb, mem),
    peakLoad1: Math.max(peaks.peakLoad1, s.load1),
    samples: peaks.samples + 1,
  };
}

export function toMb(bytes: number): number {
  return Math.floor(bytes / MB);
}
