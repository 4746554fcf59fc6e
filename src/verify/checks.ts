/**
 * The static checks: pure functions from what xorriso reported (and a few file heads) to table rows.
 * Each failure says what is wrong and where, in terms a user can act on.
 */
import { ESP_TYPE_GUID, type ElToritoEntry } from './xorriso-reports.js';
import { bootParamOf, casperLayerChain, isStaticGrubPath, layerfsPathOf } from './grub-config.js';
import { listIsoDir, normaliseIsoPath, resolveIsoPath, type IsoNode } from './iso-listing.js';
import { initrdFormat, isLinuxKernel, isSquashfs } from './magic.js';
import type { CheckResult, IsoFacts, LiveSystem, VerifyExpectations } from './types.js';

const MBR_BOOT_CODE = /\b(grub2-mbr|isohybrid)\b/;
const LIVE_DIRS: Record<LiveSystem, string> = { 'live-boot': '/live', casper: '/casper' };
const BOOT_PARAMS: Record<LiveSystem, string> = { 'live-boot': 'live', casper: 'casper' };

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function describeEntry(e: ElToritoEntry): string {
  return `${e.platform}${e.path ? ` ${e.path}` : ' (hidden image)'}`;
}

function describeEntries(entries: readonly ElToritoEntry[]): string {
  if (entries.length === 0) return 'the ISO has no El Torito boot catalog';
  return `the ISO has ${entries.length === 1 ? '1 entry' : `${entries.length} entries`}: ${entries.map(describeEntry).join(', ')}`;
}

/** Whether the image says it boots on BIOS: a BIOS El Torito entry, or MBR boot code for a USB stick. */
export function claimsBios(facts: IsoFacts): boolean {
  return facts.torito.entries.some((e) => e.platform === 'BIOS') || MBR_BOOT_CODE.test(facts.area.summary ?? '');
}

export function biosRequired(facts: IsoFacts, expect: VerifyExpectations): boolean {
  return expect.bios === 'required' || (expect.bios === 'auto' && claimsBios(facts));
}

export function checkBiosEntry(facts: IsoFacts, expect: VerifyExpectations): CheckResult {
  const row = (status: CheckResult['status'], detail: string): CheckResult => ({
    id: 'eltorito-bios',
    name: 'El Torito BIOS entry',
    status,
    detail,
  });
  const entries = facts.torito.entries;
  const bios = entries.find((e) => e.platform === 'BIOS' && e.bootable) ?? entries.find((e) => e.platform === 'BIOS');
  if (expect.bios === 'off')
    return row('skipped', bios ? `not required; present: ${describeEntry(bios)}` : 'not required');
  if (!biosRequired(facts, expect))
    return row('skipped', 'the ISO does not boot on BIOS (no BIOS entry, no MBR boot code)');
  if (!bios) {
    const why =
      expect.bios === 'auto'
        ? ` although the MBR carries ${MBR_BOOT_CODE.exec(facts.area.summary ?? '')?.[1]} boot code`
        : '';
    return row('fail', `no BIOS El Torito entry${why}; ${describeEntries(entries)}`);
  }
  if (!bios.bootable) return row('fail', `the BIOS entry ${describeEntry(bios)} is not marked bootable`);
  if (bios.path !== null && resolveIsoPath(facts.listing, bios.path)?.type !== 'file') {
    return row('fail', `the BIOS entry's image ${bios.path} is not in the ISO tree`);
  }
  const emulation = bios.emulation === 'none' ? 'no emulation' : `${bios.emulation} emulation`;
  const opts = bios.options.length > 0 ? `, ${bios.options.join(' ')}` : '';
  return row(
    'ok',
    `${bios.path ?? `hidden image at LBA ${bios.lba}`}, ${emulation}, load size ${bios.loadSize}${opts}`,
  );
}

export function checkUefiEntry(facts: IsoFacts, expect: VerifyExpectations): CheckResult {
  const row = (status: CheckResult['status'], detail: string): CheckResult => ({
    id: 'eltorito-uefi',
    name: 'El Torito UEFI entry',
    status,
    detail,
  });
  const entries = facts.torito.entries;
  const uefi = entries.find((e) => e.platform === 'UEFI' && e.bootable) ?? entries.find((e) => e.platform === 'UEFI');
  if (expect.uefi === 'off')
    return row('skipped', uefi ? `not required; present: ${describeEntry(uefi)}` : 'not required');
  if (!uefi) return row('fail', `no UEFI El Torito entry: ${describeEntries(entries)}`);
  if (!uefi.bootable) return row('fail', `the UEFI entry ${describeEntry(uefi)} is not marked bootable`);
  if (uefi.path !== null && resolveIsoPath(facts.listing, uefi.path)?.type !== 'file') {
    return row('fail', `the UEFI entry's image ${uefi.path} is not in the ISO tree`);
  }
  const where = uefi.path ?? `hidden image at LBA ${uefi.lba}`;
  const esp = facts.esp;
  if (esp && !esp.fat) return row('fail', `the UEFI entry's image (${where}) is not a FAT file system`);
  if (esp?.bootFiles && !esp.bootFiles.some((f) => /^bootx64\.efi$/i.test(f))) {
    const has = esp.bootFiles.length > 0 ? `it holds ${esp.bootFiles.join(', ')}` : (esp.note ?? 'it has no /EFI/BOOT');
    return row('fail', `the UEFI entry's FAT image (${where}) has no /EFI/BOOT/BOOTX64.EFI: ${has}`);
  }
  const inPartition = facts.area.gptPartitions.find((p) => p.typeGuid === ESP_TYPE_GUID && p.start === uefi.lba * 4);
  const size = formatBytes(uefi.loadSize * 512);
  const contents = esp?.bootFiles ? ', with /EFI/BOOT/BOOTX64.EFI' : esp?.note ? ` (${esp.note})` : '';
  return row('ok', `${where}${inPartition ? ` = GPT partition ${inPartition.index}` : ''}, FAT ${size}${contents}`);
}

export function checkLayout(facts: IsoFacts, expect: VerifyExpectations): CheckResult {
  const row = (status: CheckResult['status'], detail: string): CheckResult => ({
    id: 'layout',
    name: 'MBR/GPT hybrid layout',
    status,
    detail,
  });
  const needBios = biosRequired(facts, expect);
  const needUefi = expect.uefi === 'required';
  const { area } = facts;
  const summary = area.summary ?? '';
  if (!needBios && !needUefi) return row('skipped', `not required${summary ? `; system area: ${summary}` : ''}`);
  const problems: string[] = [];
  const facts_: string[] = [];
  const bootCode = MBR_BOOT_CODE.exec(summary)?.[1];
  const mbrTypes = area.mbrPartitions.map((p) => `${p.type}${p.status === '0x80' ? ' (active)' : ''}`);
  if (needBios) {
    if (!bootCode)
      problems.push(
        `no MBR boot code (neither grub2-mbr nor isohybrid): written to a USB stick it would not boot on BIOS`,
      );
    else facts_.push(`MBR ${bootCode} boot code`);
    if (area.mbrPartitions.length === 0) problems.push('no MBR partition table');
  }
  if (area.mbrPartitions.length > 0) facts_.push(`MBR partitions ${mbrTypes.join(', ')}`);
  if (needUefi) {
    const esp = area.gptPartitions.find((p) => p.typeGuid === ESP_TYPE_GUID);
    const mbrEsp = area.mbrPartitions.find((p) => p.type === '0xef');
    if (esp) {
      facts_.push(`GPT with the EFI system partition as partition ${esp.index} (${formatBytes(esp.size * 512)})`);
      if (!area.mbrPartitions.some((p) => p.type === '0xee'))
        problems.push('a GPT without a protective MBR entry (type 0xee)');
    } else if (mbrEsp) {
      facts_.push(`EFI system partition as MBR partition ${mbrEsp.index}`);
    } else if (area.gpt) {
      problems.push(
        `the GPT has no EFI system partition (partitions: ${area.gptPartitions.map((p) => p.name ?? p.typeGuid).join(', ') || 'none'})`,
      );
    } else {
      problems.push(
        'no GPT and no EFI system partition (type 0xef) in the MBR: written to a USB stick it would not boot on UEFI',
      );
    }
  }
  if (problems.length > 0)
    return row('fail', `${problems.join('; ')}${summary ? ` (system area: ${summary})` : ' (empty system area)'}`);
  return row('ok', facts_.join('; '));
}

export function checkGrubConfig(facts: IsoFacts): CheckResult {
  const row = (status: CheckResult['status'], detail: string): CheckResult => ({
    id: 'grub-config',
    name: 'GRUB config',
    status,
    detail,
  });
  const { grub } = facts;
  if (!grub.found) return row('fail', `${grub.path} is not on the ISO: GRUB would stop at its prompt`);
  if (grub.config.kernels.length === 0)
    return row('fail', `${grub.files.join(', ')} has no linux line: no menu entry boots a kernel`);
  const sourced = grub.files.length > 1 ? `, sourcing ${grub.files.slice(1).join(', ')}` : '';
  return row(
    'ok',
    `${grub.path}: ${grub.config.menuEntries} menu entries, ${grub.config.kernels.length} linux lines${sourced}`,
  );
}

/** A file the GRUB config names, checked for presence, size and kind. */
function checkNamedFiles(
  facts: IsoFacts,
  id: 'kernel' | 'initrd',
  paths: { path: string; where: string }[],
  recognise: (head: Buffer) => string | null,
  kind: string,
): CheckResult {
  const name = id;
  const row = (status: CheckResult['status'], detail: string): CheckResult => ({ id, name, status, detail });
  if (!facts.grub.found || facts.grub.config.kernels.length === 0)
    return row('skipped', 'no GRUB menu entry to read the path from');
  if (paths.length === 0)
    return row(
      'fail',
      `the GRUB config has no ${id === 'kernel' ? 'linux' : 'initrd'} line: a live system needs its ${kind}`,
    );
  const unique = new Map<string, string>();
  for (const p of paths) if (!unique.has(p.path)) unique.set(p.path, p.where);
  const dynamic = [...unique.keys()].filter((p) => !isStaticGrubPath(p));
  const found: string[] = [];
  for (const [p, where] of unique) {
    if (!isStaticGrubPath(p)) continue;
    const node = resolveIsoPath(facts.listing, p);
    if (!node) return row('fail', `${p} (${where}) is not on the ISO`);
    if (node.type !== 'file') return row('fail', `${p} (${where}) is a ${node.type}, not a file`);
    if (node.size === 0) return row('fail', `${p} (${where}) is empty`);
    const head = facts.heads.get(node.path);
    const what = head ? recognise(head) : 'unread';
    if (what === null)
      return row(
        'fail',
        `${p} (${where}) is not ${kind === 'kernel' ? 'a Linux kernel (no bzImage header)' : 'an initramfs (neither cpio nor a known compression)'}`,
      );
    found.push(`${p} (${formatBytes(node.size)}, ${what})`);
  }
  if (found.length === 0)
    return row(
      'fail',
      `every ${id} path in the GRUB config uses a variable (${dynamic.join(', ')}); none could be checked`,
    );
  const note = dynamic.length > 0 ? `; not resolved: ${dynamic.join(', ')}` : '';
  return row('ok', `${found.join(', ')}${note}`);
}

function lineRef(file: string, line: number): string {
  return `${file}:${line}`;
}

export function checkKernel(facts: IsoFacts): CheckResult {
  const paths = facts.grub.config.kernels.map((k) => ({
    path: normaliseIfStatic(k.path),
    where: `linux line at ${lineRef(k.file, k.line)}`,
  }));
  return checkNamedFiles(facts, 'kernel', paths, (head) => (isLinuxKernel(head) ? 'bzImage' : null), 'kernel');
}

export function checkInitrd(facts: IsoFacts): CheckResult {
  const paths = facts.grub.config.initrds.flatMap((l) =>
    l.paths.map((p) => ({ path: normaliseIfStatic(p), where: `initrd line at ${lineRef(l.file, l.line)}` })),
  );
  return checkNamedFiles(facts, 'initrd', paths, initrdFormat, 'initramfs');
}

function normaliseIfStatic(p: string): string {
  return isStaticGrubPath(p) ? normaliseIsoPath(p) : p;
}

function isDir(facts: IsoFacts, dir: string): boolean {
  return resolveIsoPath(facts.listing, dir)?.type === 'dir';
}

/** The boot= values of the linux lines, with how many lines carry each (null: no boot= at all). */
export function bootParams(facts: IsoFacts): Map<string | null, number> {
  const counts = new Map<string | null, number>();
  for (const k of facts.grub.config.kernels) {
    const v = bootParamOf(k);
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
}

function liveSystemOfParam(param: string | null | undefined): LiveSystem | null {
  return param === 'live' ? 'live-boot' : param === 'casper' ? 'casper' : null;
}

/**
 * The live system the image carries: the configured one when given; else what the GRUB config's
 * boot= asks for if its directory exists; else whichever of /live and /casper exists.
 */
export function detectLiveSystem(facts: IsoFacts, expect: VerifyExpectations): LiveSystem | null {
  if (expect.liveSystem) return expect.liveSystem;
  const params = [...bootParams(facts).keys()];
  const fromParam = params.length === 1 ? liveSystemOfParam(params[0]) : null;
  if (fromParam && isDir(facts, LIVE_DIRS[fromParam])) return fromParam;
  const byDir = (Object.keys(LIVE_DIRS) as LiveSystem[]).filter((s) => isDir(facts, LIVE_DIRS[s]));
  if (byDir.length === 1) return byDir[0]!;
  return fromParam ?? byDir[0] ?? null;
}

export function checkSquashfs(facts: IsoFacts, expect: VerifyExpectations): CheckResult {
  const row = (status: CheckResult['status'], detail: string): CheckResult => ({
    id: 'squashfs',
    name: 'squashfs',
    status,
    detail,
  });
  const system = detectLiveSystem(facts, expect);
  if (!system)
    return row(
      'fail',
      'no /live or /casper directory on the ISO, and no boot=live or boot=casper in the GRUB config: there is no live system',
    );
  const dir = LIVE_DIRS[system];
  if (system === 'casper') {
    const casper = checkCasperLayers(facts, dir, row);
    if (casper) return casper;
  }
  const file = `${dir}/filesystem.squashfs`;
  const node = resolveIsoPath(facts.listing, file);
  const layered = layerImagesOnIso(facts, dir);
  if (!node && layered.length > 0) return checkLayerImages(facts, dir, layered, system, row);
  if (!node) {
    const holds = isDir(facts, dir)
      ? `${dir} holds: ${listIsoDir(facts.listing, dir).join(', ') || 'nothing'}`
      : `there is no ${dir}`;
    return row('fail', `${file} is not on the ISO (${holds})`);
  }
  if (node.type !== 'file') return row('fail', `${file} is a ${node.type}, not a file`);
  if (node.size === 0) return row('fail', `${file} is empty`);
  const head = facts.heads.get(node.path);
  if (head && !isSquashfs(head)) return row('fail', `${file} is not a squashfs image (no hsqs signature)`);
  return row('ok', `${file} (${formatBytes(node.size)}, ${system})`);
}

/**
 * A layered medium (squashfs.layers): live-boot stacks the images live/filesystem.module lists, with no
 * filesystem.squashfs beside them. The image names on the ISO, when the module file is there.
 */
function layerImagesOnIso(facts: Pick<IsoFacts, 'listing'>, dir: string): string[] {
  const names = listIsoDir(facts.listing, dir);
  if (!names.includes('filesystem.module')) return [];
  return names.filter((n) => n.endsWith('.squashfs')).map((n) => `${dir}/${n}`);
}

function checkLayerImages(
  facts: IsoFacts,
  dir: string,
  images: readonly string[],
  system: LiveSystem,
  row: (status: CheckResult['status'], detail: string) => CheckResult,
): CheckResult {
  let total = 0;
  for (const file of images) {
    const node = resolveIsoPath(facts.listing, file);
    if (node?.type !== 'file') return row('fail', `${file} is not a file`);
    if (node.size === 0) return row('fail', `${file} is empty`);
    const head = facts.heads.get(node.path);
    if (head && !isSquashfs(head)) return row('fail', `${file} is not a squashfs image (no hsqs signature)`);
    total += node.size;
  }
  return row(
    'ok',
    `${images.length} layer images in ${dir}, stacked by ${dir}/filesystem.module (${formatBytes(total)}, ${system})`,
  );
}

/** casper skips these two in its directory when no layerfs-path= is given (Edubuntu's extra images, scripts/casper). */
const CASPER_SKIPPED = new Set(['ltsp.squashfs', 'server.squashfs']);

/** The chains the linux lines' layerfs-path= name, each once, with the first line that names it. */
function casperChains(facts: Pick<IsoFacts, 'grub'>): { value: string; where: string }[] {
  const seen = new Map<string, string>();
  for (const k of facts.grub.config.kernels) {
    const v = layerfsPathOf(k);
    if (v !== null && !seen.has(v)) seen.set(v, `linux line at ${lineRef(k.file, k.line)}`);
  }
  return [...seen].map(([value, where]) => ({ value, where }));
}

/**
 * A casper medium: with layerfs-path= on its linux lines, casper stacks the chain of images that argument names and
 * panics when one is missing ("File system layers are missing"); without it, every *.squashfs in /casper, in name
 * order. So each chain must be there, image by image; every linux line must carry the argument once one does; and a
 * medium without it must hold one image. null: a flat medium with one image, checked as such by the caller.
 */
function checkCasperLayers(
  facts: IsoFacts,
  dir: string,
  row: (status: CheckResult['status'], detail: string) => CheckResult,
): CheckResult | null {
  const chains = casperChains(facts);
  const images = listIsoDir(facts.listing, dir).filter((n) => n.endsWith('.squashfs') && !CASPER_SKIPPED.has(n));
  const bare = facts.grub.config.kernels.find((k) => layerfsPathOf(k) === null);
  if (bare && images.length > 1) {
    const why =
      chains.length > 0
        ? `, while the ${chains[0]!.where} has layerfs-path=${chains[0]!.value}`
        : ' (a layered medium needs layerfs-path=<top image> in every entry)';
    return row(
      'fail',
      `the linux line at ${lineRef(bare.file, bare.line)} has no layerfs-path=${why}: casper would stack all ${images.length} images in ${dir} (${images.join(', ')})`,
    );
  }
  if (chains.length === 0) return null;
  const done: string[] = [];
  for (const { value, where } of chains) {
    const chain = casperLayerChain(value, dir);
    if ('error' in chain) return row('fail', `${chain.error} (${where})`);
    let total = 0;
    for (const file of chain.images) {
      const node = resolveIsoPath(facts.listing, file);
      if (!node)
        return row(
          'fail',
          `${file} is not on the ISO, but layerfs-path=${value} (${where}) stacks it: casper would stop with "File system layers are missing"`,
        );
      if (node.type !== 'file') return row('fail', `${file} is a ${node.type}, not a file (layerfs-path=${value})`);
      if (node.size === 0) return row('fail', `${file} is empty (layerfs-path=${value})`);
      const head = facts.heads.get(node.path);
      if (head && !isSquashfs(head))
        return row('fail', `${file} is not a squashfs image (no hsqs signature; layerfs-path=${value})`);
      total += node.size;
    }
    done.push(`${chain.images.length} layer images stacked by layerfs-path=${value} (${formatBytes(total)})`);
  }
  const merged = resolveIsoPath(facts.listing, `${dir}/filesystem.squashfs`);
  const beside =
    merged?.type === 'file' ? `; ${dir}/filesystem.squashfs beside them (${formatBytes(merged.size)})` : '';
  return row('ok', `${done.join('; ')} in ${dir}${beside}, casper`);
}

/** The images of the chains the GRUB config's layerfs-path= name (their heads are read). */
function casperChainFiles(facts: Pick<IsoFacts, 'grub'>, dir: string): string[] {
  return casperChains(facts).flatMap(({ value }) => {
    const chain = casperLayerChain(value, dir);
    return 'images' in chain ? chain.images : [];
  });
}

export function checkBootParam(facts: IsoFacts, expect: VerifyExpectations): CheckResult {
  const row = (status: CheckResult['status'], detail: string): CheckResult => ({
    id: 'boot-param',
    name: 'boot parameter',
    status,
    detail,
  });
  if (!facts.grub.found || facts.grub.config.kernels.length === 0)
    return row('skipped', 'no GRUB menu entry to read it from');
  const counts = bootParams(facts);
  const missing = facts.grub.config.kernels.find((k) => bootParamOf(k) === null);
  if (missing)
    return row(
      'fail',
      `the linux line at ${lineRef(missing.file, missing.line)} has no boot= parameter: the initramfs would not look for a live system`,
    );
  const values = [...counts.keys()] as string[];
  if (values.length > 1) {
    return row(
      'fail',
      `the menu entries disagree: ${values.map((v) => `boot=${v} (${counts.get(v)} lines)`).join(', ')}`,
    );
  }
  const param = values[0]!;
  const paramSystem = liveSystemOfParam(param);
  if (!paramSystem) return row('fail', `boot=${param} is neither boot=live (live-boot) nor boot=casper (casper)`);
  const n = counts.get(param)!;
  if (expect.liveSystem && paramSystem !== expect.liveSystem) {
    const want = expect.liveSystem;
    return row(
      'fail',
      `the GRUB config says boot=${param}, but the live system is ${want} (boot=${BOOT_PARAMS[want]}, ${LIVE_DIRS[want]})`,
    );
  }
  const dir = LIVE_DIRS[paramSystem];
  if (!isDir(facts, dir)) {
    const other = (Object.keys(LIVE_DIRS) as LiveSystem[]).find((s) => s !== paramSystem && isDir(facts, LIVE_DIRS[s]));
    const instead = other
      ? `, but the live system is in ${LIVE_DIRS[other]} (${other} needs boot=${BOOT_PARAMS[other]})`
      : '';
    return row(
      'fail',
      `the GRUB config says boot=${param}, which looks in ${dir}, and there is no ${dir} on the ISO${instead}`,
    );
  }
  return row(
    'ok',
    `boot=${param} on ${n === 1 ? '1 linux line' : `${n} linux lines`}, matching the live system in ${dir} (${paramSystem})`,
  );
}

export function checkVolumeId(facts: IsoFacts, expect: VerifyExpectations): CheckResult | null {
  if (expect.volumeId === undefined) return null;
  const actual = facts.torito.volumeId;
  const ok = actual === expect.volumeId;
  return {
    id: 'volume-id',
    name: 'volume id',
    status: ok ? 'ok' : 'fail',
    detail: ok
      ? `${actual} (GRUB finds the ISO by it)`
      : `the volume id is ${actual === null ? 'missing' : `"${actual}"`}, not "${expect.volumeId}": GRUB's search --label would not find the ISO`,
  };
}

/** The static rows in table order (the checksum and boot rows are added by the caller). */
export function staticChecks(facts: IsoFacts, expect: VerifyExpectations): CheckResult[] {
  const rows: (CheckResult | null)[] = [
    checkBiosEntry(facts, expect),
    checkUefiEntry(facts, expect),
    checkLayout(facts, expect),
    checkVolumeId(facts, expect),
    checkGrubConfig(facts),
    checkKernel(facts),
    checkInitrd(facts),
    checkSquashfs(facts, expect),
    checkBootParam(facts, expect),
  ];
  return rows.filter((r): r is CheckResult => r !== null);
}

/** The files whose first bytes the checks look at: the GRUB config's kernels and initrds, and the squashfs. */
export function filesToRead(facts: Omit<IsoFacts, 'heads'>, expect: VerifyExpectations): IsoNode[] {
  const probe: IsoFacts = { ...facts, heads: new Map() };
  const paths = [
    ...facts.grub.config.kernels.map((k) => k.path),
    ...facts.grub.config.initrds.flatMap((l) => l.paths),
  ].filter(isStaticGrubPath);
  const system = detectLiveSystem(probe, expect);
  if (system) paths.push(`${LIVE_DIRS[system]}/filesystem.squashfs`, ...layerImagesOnIso(facts, LIVE_DIRS[system]));
  if (system === 'casper') paths.push(...casperChainFiles(facts, LIVE_DIRS.casper));
  const nodes = new Map<string, IsoNode>();
  for (const p of paths) {
    const node = resolveIsoPath(facts.listing, p);
    if (node?.type === 'file' && node.lba !== null && node.size > 0) nodes.set(node.path, node);
  }
  return [...nodes.values()];
}
