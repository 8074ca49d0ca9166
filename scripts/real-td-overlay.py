#!/usr/bin/env python3
"""Build the L1 overlay of the real TD stack (issue 13) from Debian binaries.

Called by scripts/fetch-real-td.sh, which set up apt. Fetches with
`apt-get download` (nothing is installed), unpacks with `dpkg-deb -x`, and
writes one reproducible gzip'd cpio archive that L1 unpacks over its own
initramfs:

  /realtd/bin/qemu-system-x86_64   Debian's QEMU, as shipped
  /realtd/lib/                     its shared-library closure + ld.so
  /realtd/share/qemu/              the option ROMs QEMU may load
  /realtd/OVMF.fd                  Debian's OVMF (TDVF metadata inside)
  /realtd/vmlinuz                  Debian's kernel (INTEL_TDX_GUEST=y)
  /realtd/td-initrd.gz             our busybox initramfs for the TD guest
  /realtd/MANIFEST                 package=version of everything above

The library closure is computed from the ELF files: starting from QEMU's
NEEDED sonames, the Depends of every package kept so far are fetched
(from the suite of that package, trixie for libraries) in sorted order, and
a package is kept only when it provides a soname still missing. The result
depends only on the package versions, which the MANIFEST records.
"""
import gzip
import os
import re
import shutil
import subprocess
import sys

CACHE = os.environ["TDX_EMU_CACHE"]
ROOT = os.environ["TDX_EMU_ROOT"]
DL = os.path.join(CACHE, "downloads", "real-td")
WORK = os.path.join(CACHE, "build", "real-td")
OUT = os.path.join(CACHE, "real-td")

QEMU = ("qemu-system-x86", "1:11.1.3+ds-2~bpo13+1")
QEMU_DATA = ("qemu-system-data", "1:11.1.3+ds-2~bpo13+1")
OVMF = ("ovmf", "2025.02-8+deb13u1")
KERNEL = ("linux-binary-7.2.13+deb14-amd64", "7.2.13-1")
LIB_SUITE = "trixie"
ROMS = ("linuxboot.bin", "linuxboot_dma.bin", "kvmvapic.bin", "pvh.bin",
        "multiboot_dma.bin")
LIBDIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64",
           "usr/lib64", "lib", "usr/lib")


def log(msg):
    print("[tdx-emu] " + msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def cached(name, version=None):
    if not os.path.isdir(DL):
        return None
    for f in sorted(os.listdir(DL)):
        if f.startswith(name + "_") and f.endswith(".deb"):
            if version is None or f.split("_")[1] == version.replace(":", "%3a"):
                return os.path.join(DL, f)
    return None


def apt_download(specs):
    log("apt-get download " + " ".join(specs))
    return subprocess.run(["apt-get", "download", "-q"] + specs, cwd=DL,
                          stdout=subprocess.DEVNULL).returncode == 0


def download(name, version=None, suite=None):
    """Fetch one .deb into DL (cached); return its path."""
    os.makedirs(DL, exist_ok=True)
    if not cached(name, version):
        apt_download([name + ("=" + version if version else "/" + suite)])
    deb = cached(name, version)
    if not deb:
        raise SystemExit("apt-get download %s gave no .deb" % name)
    return deb


def download_many(names, suite):
    """Fetch several packages in one apt run (one per name if that fails:
    a virtual or missing name); name -> .deb or None."""
    os.makedirs(DL, exist_ok=True)
    todo = [n for n in names if not cached(n)]
    if todo and not apt_download([n + "/" + suite for n in todo]):
        for n in todo:
            if not cached(n):
                apt_download([n + "/" + suite])
    return {n: cached(n) for n in names}


def deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", deb, field], check=True,
                          capture_output=True, text=True).stdout.strip()


def unpack(deb):
    d = os.path.join(WORK, "pkgs", os.path.basename(deb)[:-4])
    if not os.path.isdir(d):
        os.makedirs(d + ".tmp", exist_ok=True)
        run(["dpkg-deb", "-x", deb, d + ".tmp"])
        os.rename(d + ".tmp", d)
    return d


def needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True,
                         text=True).stdout
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))


def sonames(root):
    """soname -> real file for the shared libraries a package ships."""
    found = {}
    for ld in LIBDIRS:
        d = os.path.join(root, ld)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if ".so" in f and os.path.isfile(p):
                found.setdefault(f, os.path.realpath(p))
    return found


def depends(deb):
    names = []
    for field in ("Pre-Depends", "Depends"):
        for dep in deb_field(deb, field).split(","):
            dep = dep.split("|")[0].strip()
            if dep:
                names.append(re.split(r"[\s(:]", dep)[0])
    return names


SKIP = ("seabios", "ipxe-qemu", "debconf", "adduser", "dpkg",
        "init-system-helpers", "perl-base", "sensible-utils")


def closure(qemu_root, qemu_deb):
    """Breadth-first over Depends, one apt run per level, names sorted."""
    binary = os.path.join(qemu_root, "usr/bin/qemu-system-x86_64")
    have = {}                   # soname -> file
    missing = set(needed(binary))
    level = sorted(set(depends(qemu_deb)))
    seen = set(level)
    kept = []
    pool = {}                   # fetched, not (yet) kept: name -> deb
    avail = {}                  # soname -> file, in the kept packages
    while missing and level:
        level = [n for n in level if not n.startswith("qemu-") and n not in SKIP]
        for name, deb in download_many(level, LIB_SUITE).items():
            if deb:
                pool[name] = deb
        nxt = set()
        changed = True
        while changed:          # a library kept late may need one seen early
            changed = False
            for name in sorted(pool):
                deb = pool[name]
                libs = sonames(unpack(deb))
                provides = missing & set(libs)
                if not provides:
                    continue
                del pool[name]
                changed = True
                kept.append((name, deb_field(deb, "Version")))
                avail.update(libs)
                while provides:         # the kept packages' own libraries
                    for so in sorted(provides):
                        have[so] = avail[so]
                    missing -= provides
                    for so in sorted(provides):
                        missing |= needed(avail[so]) - set(have)
                    provides = missing & set(avail)
                nxt |= set(depends(deb)) - seen
        seen |= nxt
        level = sorted(nxt)
    if missing:
        raise SystemExit("library closure incomplete: " + " ".join(sorted(missing)))
    return have, kept


def cpio_newc(entries, out):
    """entries: sorted list of (path, mode, data or None for a directory)."""
    ino = 1
    with gzip.GzipFile(out, "wb", mtime=0, compresslevel=6) as z:
        def rec(name, mode, data):
            nonlocal ino
            nb = name.encode() + b"\0"
            hdr = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
                ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
            ino += 1
            z.write(hdr.encode() + nb)
            z.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))
            z.write(data)
            z.write(b"\0" * ((4 - len(data) % 4) % 4))
        for name, mode, data in entries:
            rec(name, mode, b"" if data is None else data)
        rec("TRAILER!!!", 0, b"")


def tree_entries(top, prefix):
    entries = []
    for dirpath, dirs, files in os.walk(top):
        dirs.sort()
        rel = os.path.relpath(dirpath, top)
        base = prefix if rel == "." else prefix + "/" + rel
        entries.append((base, 0o40755, None))
        for f in sorted(files):
            p = os.path.join(dirpath, f)
            mode = 0o100755 if os.access(p, os.X_OK) else 0o100644
            with open(p, "rb") as fh:
                entries.append((base + "/" + f, mode, fh.read()))
    return entries


def td_initrd(path):
    """Our TD guest's userspace: static busybox + guest/real-td/init."""
    busybox = os.environ.get("BUSYBOX", "/bin/busybox")
    with open(busybox, "rb") as fh:
        bb = fh.read()
    with open(os.path.join(ROOT, "guest/real-td/td-init"), "rb") as fh:
        init = fh.read()
    entries = [("bin", 0o40755, None), ("bin/busybox", 0o100755, bb),
               ("dev", 0o40755, None), ("init", 0o100755, init),
               ("proc", 0o40755, None), ("sys", 0o40755, None)]
    cpio_newc(entries, path)


def main():
    shutil.rmtree(os.path.join(WORK, "stage"), ignore_errors=True)
    stage = os.path.join(WORK, "stage", "realtd")
    os.makedirs(os.path.join(stage, "bin"))
    os.makedirs(os.path.join(stage, "lib"))
    os.makedirs(os.path.join(stage, "share", "qemu"))

    qemu_deb = download(*QEMU)
    qemu_root = unpack(qemu_deb)
    shutil.copy(os.path.join(qemu_root, "usr/bin/qemu-system-x86_64"),
                os.path.join(stage, "bin"))
    have, kept = closure(qemu_root, qemu_deb)
    for so, f in sorted(have.items()):
        shutil.copy(f, os.path.join(stage, "lib", so))
    libc = unpack(download("libc6", suite=LIB_SUITE))
    ldso = os.path.join(libc, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    if not os.path.exists(ldso):
        ldso = os.path.join(libc, "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    shutil.copy(os.path.realpath(ldso), os.path.join(stage, "lib", "ld-linux-x86-64.so.2"))
    if ("libc6", deb_field(download("libc6", suite=LIB_SUITE), "Version")) not in kept:
        kept.append(("libc6", deb_field(download("libc6", suite=LIB_SUITE), "Version")))

    data = unpack(download(*QEMU_DATA))
    for rom in ROMS:
        p = os.path.join(data, "usr/share/qemu", rom)
        if os.path.exists(p):
            shutil.copy(os.path.realpath(p), os.path.join(stage, "share", "qemu", rom))
    ovmf = unpack(download(*OVMF))
    shutil.copy(os.path.realpath(os.path.join(ovmf, "usr/share/ovmf/OVMF.fd")),
                os.path.join(stage, "OVMF.fd"))
    kern = unpack(download(*KERNEL))
    vmlinuz = []
    for dirpath, dirs, files in os.walk(kern):
        dirs.sort()
        vmlinuz += [os.path.join(dirpath, f) for f in sorted(files)
                    if f == "vmlinuz" or f.startswith("vmlinuz-")]
    if len(vmlinuz) != 1:
        raise SystemExit("expected one vmlinuz in %s, got %s" % (KERNEL[0], vmlinuz))
    shutil.copy(vmlinuz[0], os.path.join(stage, "vmlinuz"))
    td_initrd(os.path.join(stage, "td-initrd.gz"))

    manifest = [QEMU, QEMU_DATA, OVMF, KERNEL] + sorted(kept)
    with open(os.path.join(stage, "MANIFEST"), "w") as fh:
        for name, ver in manifest:
            fh.write("%s=%s\n" % (name, ver))
    os.makedirs(OUT, exist_ok=True)
    out = os.path.join(OUT, "overlay.cpio.gz")
    cpio_newc(tree_entries(stage, "realtd"), out + ".tmp")
    os.replace(out + ".tmp", out)
    log("real TD overlay: %s (%d packages, %d libraries, %.1f MB)" %
        (out, len(manifest), len(have), os.path.getsize(out) / 1e6))
    print("REAL_TD_OVERLAY=" + out)


if __name__ == "__main__":
    main()
