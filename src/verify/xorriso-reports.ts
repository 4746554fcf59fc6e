/**
 * The xorriso listings of a finished ISO: `-report_el_torito plain` (the boot catalog) and
 * `-report_system_area plain` (MBR and GPT). The iso step's own check and `ailinux verify` read them.
 */

/** GPT type GUID of an EFI system partition, in the byte order xorriso reports it. */
export const ESP_TYPE_GUID = '28732ac11ff8d211ba4b00a0c93ec93b';

export interface ElToritoEntry {
  index: number;
  platform: string;
  bootable: boolean;
  emulation: string;
  loadSize: number;
  lba: number;
  path: string | null;
  options: string[];
}

export interface ElToritoReport {
  bios: boolean;
  uefi: boolean;
  volumeId: string | null;
  catalogPath: string | null;
  entries: ElToritoEntry[];
}

/** Reads the output of `xorriso -indev ISO -report_el_torito plain`. */
export function parseElToritoReport(text: string): ElToritoReport {
  const entries = new Map<number, ElToritoEntry>();
  let volumeId: string | null = null;
  let catalogPath: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^(El Torito [a-z ]+?|Volume id)\s*:\s*(.*)$/.exec(line.trimEnd());
    if (!m) continue;
    const [key, value] = [m[1]!, m[2]!];
    if (key === 'Volume id') volumeId = /^'(.*)'$/.exec(value)?.[1] ?? value;
    else if (key === 'El Torito cat path') catalogPath = value.trim();
    else if (key === 'El Torito boot img') {
      const f = value.trim().split(/\s+/);
      if (f.length < 8 || !/^\d+$/.test(f[0]!)) continue;
      const index = Number(f[0]);
      entries.set(index, {
        index,
        platform: f[1]!,
        bootable: f[2] === 'y',
        emulation: f[3]!,
        loadSize: Number(f[6]),
        lba: Number(f[7]),
        path: null,
        options: [],
      });
    } else if (key === 'El Torito img path' || key === 'El Torito img opts') {
      const im = /^\s*(\d+)\s+(.*)$/.exec(value);
      const entry = im ? entries.get(Number(im[1])) : undefined;
      if (!entry) continue;
      if (key === 'El Torito img path') entry.path = im![2]!.trim();
      else entry.options = im![2]!.trim().split(/\s+/);
    }
  }
  const list = [...entries.values()].sort((a, b) => a.index - b.index);
  return {
    bios: list.some((e) => e.platform === 'BIOS' && e.bootable),
    uefi: list.some((e) => e.platform === 'UEFI' && e.bootable),
    volumeId,
    catalogPath,
    entries: list,
  };
}

export interface SystemAreaReport {
  summary: string | null;
  mbrPartitions: { index: number; status: string; type: string; start: number; blocks: number }[];
  gptPartitions: { index: number; typeGuid: string; name: string | null; start: number; size: number }[];
  gpt: boolean;
  esp: boolean;
}

/** Reads the output of `xorriso -indev ISO -report_system_area plain`. */
export function parseSystemAreaReport(text: string): SystemAreaReport {
  let summary: string | null = null;
  const mbr: SystemAreaReport['mbrPartitions'] = [];
  const gpt = new Map<number, SystemAreaReport['gptPartitions'][number]>();
  const gptEntry = (index: number) => {
    let e = gpt.get(index);
    if (!e) {
      e = { index, typeGuid: '', name: null, start: 0, size: 0 };
      gpt.set(index, e);
    }
    return e;
  };
  for (const line of text.split('\n')) {
    const m = /^(System area summary|MBR partition|GPT [a-zA-Z ]+?)\s*:\s*(.*)$/.exec(line.trimEnd());
    if (!m) continue;
    const [key, value] = [m[1]!, m[2]!.trim()];
    const f = value.split(/\s+/);
    if (key === 'System area summary') summary = value;
    else if (key === 'MBR partition' && /^\d+$/.test(f[0] ?? '') && f.length >= 5) {
      mbr.push({ index: Number(f[0]), status: f[1]!, type: f[2]!, start: Number(f[3]), blocks: Number(f[4]) });
    } else if (/^\d+$/.test(f[0] ?? '')) {
      const index = Number(f[0]);
      if (key === 'GPT type GUID') gptEntry(index).typeGuid = f[1] ?? '';
      else if (key === 'GPT partname local') gptEntry(index).name = f.slice(1).join(' ');
      else if (key === 'GPT start and size')
        Object.assign(gptEntry(index), { start: Number(f[1]), size: Number(f[2]) });
    }
  }
  const gptPartitions = [...gpt.values()].sort((a, b) => a.index - b.index);
  return {
    summary,
    mbrPartitions: mbr,
    gptPartitions,
    gpt: /\bGPT\b/.test(summary ?? '') || gptPartitions.length > 0,
    esp: gptPartitions.some((p) => p.typeGuid === ESP_TYPE_GUID) || mbr.some((p) => p.type === '0xef'),
  };
}

export function isoReportArgv(iso: string): string[] {
  return ['xorriso', '-indev', iso, '-report_el_torito', 'plain', '-report_system_area', 'plain'];
}
