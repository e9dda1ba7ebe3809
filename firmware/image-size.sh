#!/usr/bin/env bash
# Prints how big the ESP32-C3 image is: each section the chip loads, where
# it lives, and the totals in flash and RAM.
#
# It reads the ELF's section headers with a few lines of Python rather than
# running `size`: `size` adds up every allocated section, including the
# *_dummy sections that only reserve addresses, the stack and the reclaimed
# bootloader RAM, so its totals are not what the image takes.
#
#   ./image-size.sh                 # the release build's ELF
#   ./image-size.sh path/to/elf     # any other build
#
# With espflash on the PATH (`cargo install espflash`) it also writes the
# flashable app image next to the ELF (`<elf>.bin`, what the bootloader
# loads) and prints espflash's own size line, which counts the image's
# headers and padding too.
set -euo pipefail

if [[ $# -gt 0 ]]; then
    elf="$(realpath -m "$1")"
fi
cd "$(dirname "${BASH_SOURCE[0]}")"
elf="${elf:-target/riscv32imc-unknown-none-elf/release/hilt-esp32c3}"
if [[ ! -f "$elf" ]]; then
    echo "image-size.sh: no ELF at $elf; build it first, e.g." >&2
    echo "  HILT_BROKER=broker.hivemq.com:1883 HILT_CLIENT_ID=probe cargo build --release" >&2
    exit 1
fi

python3 - "$elf" <<'PYTHON'
import struct
import sys

path = sys.argv[1]
with open(path, "rb") as file:
    data = file.read()

if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
    sys.exit(f"image-size.sh: {path} is not a 32-bit little-endian ELF file")

# ELF32 header: section header table offset, entry size, count, names index.
shoff = struct.unpack_from("<I", data, 0x20)[0]
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)

SHT_NOBITS = 8
SHF_ALLOC = 0x2

sections = []
for index in range(shnum):
    name, kind, flags, addr, _offset, size = struct.unpack_from(
        "<IIIIII", data, shoff + index * shentsize
    )
    sections.append((name, kind, flags, addr, size))
strtab_offset = struct.unpack_from("<I", data, shoff + shstrndx * shentsize + 16)[0]


def name_of(offset):
    end = data.index(b"\0", strtab_offset + offset)
    return data[strtab_offset + offset : end].decode()


def region(addr):
    """Where an address lives in the ESP32-C3's memory map."""
    if 0x4200_0000 <= addr < 0x4280_0000:
        return "flash, code run in place"
    if 0x3C00_0000 <= addr < 0x3C80_0000:
        return "flash, constants"
    if 0x4037_C000 <= addr < 0x403E_0000:
        return "RAM, code (copied from flash at boot)"
    if 0x3FC8_0000 <= addr < 0x3FCE_0000:
        return "RAM, data"
    if 0x5000_0000 <= addr < 0x5000_2000:
        return "RTC fast RAM"
    return "elsewhere"


flash = 0
static_ram = 0
reserved = []
rows = []
for name_offset, kind, flags, addr, size in sections:
    if not flags & SHF_ALLOC or size == 0:
        continue
    name = name_of(name_offset)
    where = region(addr)
    loaded = kind != SHT_NOBITS
    # The *_dummy sections only reserve the address range that the other
    # bus's view of the same memory already uses; they take no memory.
    if name.endswith("_dummy"):
        continue
    # The stack and the reclaimed bootloader RAM are what is left over,
    # not something the image fills.
    if name in (".stack", ".dram2_uninit"):
        reserved.append((name, size))
        continue
    if loaded:
        flash += size
    if where.startswith("RAM"):
        static_ram += size
    if loaded:
        note = ""
    elif "persistent" in name:
        note = ", kept across resets"
    else:
        note = ", zeroed at boot"
    rows.append((name, size, where + note))

print(f"image: {path}")
print(f"{'section':<22} {'bytes':>9}  where")
for name, size, where in rows:
    print(f"{name:<22} {size:>9,}  {where}")
print(f"{'flash (the image)':<22} {flash:>9,}  of the DevKitM-1's 4 MiB")
print(f"{'RAM used statically':<22} {static_ram:>9,}  of the ESP32-C3's 400 KiB (code in RAM, .data, .bss with the heap's first region)")
for name, size in reserved:
    what = "left for the stack" if name == ".stack" else "bootloader RAM reclaimed for the heap"
    print(f"{name:<22} {size:>9,}  {what}")
PYTHON

if command -v espflash >/dev/null; then
    espflash save-image --chip esp32c3 "$elf" "$elf.bin" 2>&1 | grep -E "App/part. size" || true
    echo "flashable app image: $elf.bin"
fi
