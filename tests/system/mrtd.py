#!/usr/bin/env python3
"""Expected MRTD of a TD built by guest/tdvmm, computed independently of the
emulated module (tests/system/test-tdvmm.sh compares it with the MRTD the
module reports when TDH.MR.FINALIZE succeeds).

usage: mrtd.py GPA PAGES

tdvmm's initial memory ("pattern v1"): PAGES pages from GPA, byte j of page
i = (i * 131 + j * 7 + 0x5a) & 0xff, added with KVM_TDX_MEASURE_MEMORY_REGION.
KVM issues TDH.MEM.PAGE.ADD per page, then TDH.MR.EXTEND per 256-byte chunk.
The TDX module ABI defines the measurement as one SHA-384 over, in call
order: per PAGE.ADD a 128-byte record ("MEM.PAGE.ADD" zero-padded to 16
bytes, GPA as u64 little endian, zeros); per MR.EXTEND a 128-byte record
("MR.EXTEND", GPA of the chunk) followed by the chunk's 256 bytes.
"""
import hashlib
import struct
import sys


def record(name, gpa):
    return name.encode().ljust(16, b"\0") + struct.pack("<Q", gpa) + bytes(104)


def main():
    gpa, pages = int(sys.argv[1], 0), int(sys.argv[2], 0)
    h = hashlib.sha384()
    for i in range(pages):
        page_gpa = gpa + i * 4096
        data = bytes((i * 131 + j * 7 + 0x5A) & 0xFF for j in range(4096))
        h.update(record("MEM.PAGE.ADD", page_gpa))
        for c in range(16):
            h.update(record("MR.EXTEND", page_gpa + c * 256))
            h.update(data[c * 256:(c + 1) * 256])
    print(h.hexdigest())


if __name__ == "__main__":
    main()
