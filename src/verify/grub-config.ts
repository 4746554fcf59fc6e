/**
 * Reading a GRUB config for what a verifier needs: the kernel and initrd paths of the menu entries,
 * their kernel arguments (boot=live or boot=casper), and the other config files it sources.
 * Not a GRUB interpreter: paths built from variables are reported as unresolved, not guessed.
 */

export interface GrubKernelLine {
  /** The path as written, device prefix such as ($root) removed. */
  path: string;
  args: string[];
  /** 1-based line number in its file, and the file, for messages. */
  line: number;
  file: string;
}

export interface GrubInitrdLine {
  paths: string[];
  line: number;
  file: string;
}

export interface GrubConfig {
  menuEntries: number;
  kernels: GrubKernelLine[];
  initrds: GrubInitrdLine[];
  /** Files named by `source` and `configfile`, with static paths. */
  includes: string[];
}

const LINUX = new Set(['linux', 'linux16', 'linuxefi']);
const INITRD = new Set(['initrd', 'initrd16', 'initrdefi']);
const INCLUDE = new Set(['source', 'configfile']);
const KEYWORDS = new Set(['then', 'else', 'do']);

/** Splits one line into words the way GRUB's shell-like lexer does for the simple cases: quotes, backslashes, comments. */
export function splitGrubWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word += end < 0 ? line.slice(i + 1) : line.slice(i + 1, end);
      inWord = true;
      i = end < 0 ? line.length : end;
    } else if (c === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        word += line[j];
        j++;
      }
      inWord = true;
      i = j;
    } else if (c === '$' && line[i + 1] === '{') {
      // ${name} is one variable reference, not a brace (unclosed, GRUB refuses the line; it runs to the end here)
      const close = line.indexOf('}', i + 2);
      const end = close === -1 ? line.length : close + 1;
      word += line.slice(i, end);
      inWord = true;
      i = end - 1;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      break;
    } else if (c === ';' || c === '{' || c === '}') {
      // braces end a statement as ; does (`menuentry x { linux /k; }`); they are not commands themselves
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      words.push(';');
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Drops a GRUB device prefix: (cd0)/live/vmlinuz and ($root)/live/vmlinuz both become /live/vmlinuz. */
export function stripGrubDevice(p: string): string {
  const m = /^\([^)]*\)(\/.*)?$/.exec(p);
  return m ? (m[1] ?? '/') : p;
}

/** A path GRUB would resolve without running anything: absolute, no variables. */
export function isStaticGrubPath(p: string): boolean {
  return p.startsWith('/') && !p.includes('$');
}

export function parseGrubConfig(text: string, file = '/boot/grub/grub.cfg'): GrubConfig {
  const config: GrubConfig = { menuEntries: 0, kernels: [], initrds: [], includes: [] };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    // a backslash at the end of a line continues it; its statements count from the line they start on
    const lineNo = i + 1;
    let raw = lines[i]!;
    while (raw.endsWith('\\') && i + 1 < lines.length) raw = `${raw.slice(0, -1)} ${lines[++i]}`;
    const words = splitGrubWords(raw);
    // a line may hold several statements separated by ;
    const statements: string[][] = [[]];
    for (const w of words) {
      if (w === ';') statements.push([]);
      else statements[statements.length - 1]!.push(w);
    }
    for (const statement of statements) {
      // `if ...; then source x; fi`: the keyword opens a block, the command follows it
      const st = KEYWORDS.has(statement[0] ?? '') ? statement.slice(1) : statement;
      const [command, ...args] = st;
      if (command === undefined) continue;
      if (command === 'menuentry') config.menuEntries++;
      else if (LINUX.has(command) && args[0] !== undefined) {
        config.kernels.push({ path: stripGrubDevice(args[0]), args: args.slice(1), line: lineNo, file });
      } else if (INITRD.has(command) && args.length > 0) {
        config.initrds.push({
          paths: args.filter((a) => !a.startsWith('--')).map(stripGrubDevice),
          line: lineNo,
          file,
        });
      } else if (INCLUDE.has(command) && args[0] !== undefined) {
        const target = stripGrubDevice(args[0]);
        if (isStaticGrubPath(target)) config.includes.push(target);
      }
    }
  }
  return config;
}

/** Merges the configs of several files (grub.cfg and what it sources) into one view. */
export function mergeGrubConfigs(configs: readonly GrubConfig[]): GrubConfig {
  return {
    menuEntries: configs.reduce((n, c) => n + c.menuEntries, 0),
    kernels: configs.flatMap((c) => c.kernels),
    initrds: configs.flatMap((c) => c.initrds),
    includes: configs.flatMap((c) => c.includes),
  };
}

/** The value of the first boot= argument of a linux line, or null when it has none. */
export function bootParamOf(kernel: GrubKernelLine): string | null {
  const arg = kernel.args.find((a) => a.startsWith('boot='));
  return arg === undefined ? null : arg.slice('boot='.length);
}

/**
 * The value of casper's layerfs-path= on a linux line, or null. casper's parse_cmdline reads the arguments in order
 * and each one sets LAYERFS_PATH again, so the last one counts.
 */
export function layerfsPathOf(kernel: GrubKernelLine): string | null {
  const arg = kernel.args.findLast((a) => a.startsWith('layerfs-path='));
  return arg === undefined ? null : arg.slice('layerfs-path='.length);
}

/**
 * The images casper stacks for layerfs-path=value, bottom first, as ISO paths; liveDir is casper's directory on the
 * ISO (/casper). As setup_overlay in casper's scripts/casper walks it: a relative value is under liveDir, an absolute
 * one a path in the initramfs, where the medium is /cdrom; the extension is what follows the last dot; the name loses
 * its last dotted part at each step down, until it has none left. null, with why, when the value names no chain this
 * can follow on the ISO.
 */
export function casperLayerChain(value: string, liveDir: string): { images: string[] } | { error: string } {
  let full: string;
  if (!value.startsWith('/')) full = `${liveDir}/${value}`;
  else if (value.startsWith('/cdrom/')) full = value.slice('/cdrom'.length);
  else return { error: `layerfs-path=${value} is a path outside the medium (/cdrom), which verify cannot follow` };
  const slash = full.lastIndexOf('/');
  const dir = full.slice(0, slash);
  const file = full.slice(slash + 1);
  const dot = file.lastIndexOf('.');
  if (dot <= 0) return { error: `layerfs-path=${value} has no extension (casper expects <name>.squashfs)` };
  const ext = file.slice(dot + 1);
  let name = file.slice(0, dot);
  const images: string[] = [];
  for (;;) {
    images.unshift(`${dir}/${name}.${ext}`);
    const parent = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name;
    if (parent === name) break;
    name = parent;
  }
  return { images };
}
