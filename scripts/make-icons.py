"""Draws the extension and task icons (PNG, no image library needed). Run once; the PNGs are committed."""
import struct
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def png(path, size, pixel):
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x / size, y / size)) for x in range(size)) for y in range(size))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    path.write_bytes(data)


def rounded(x, y, r=0.18):
    cx = min(max(x, r), 1 - r)
    cy = min(max(y, r), 1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


BLUE = (0, 120, 212, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def container(x, y):
    # a stack of three container boxes: the shared mark of the extension
    for top in (0.22, 0.42, 0.62):
        if 0.22 <= x <= 0.78 and top <= y <= top + 0.14:
            return True
    return False


def ensure(x, y):  # a check mark over the mark
    return abs(y - (0.55 + (x - 0.3) * 0.9)) < 0.07 and 0.25 <= x <= 0.45 or abs(y - (0.73 - (x - 0.45) * 1.0)) < 0.07 and 0.43 <= x <= 0.78


def build(x, y):  # two arrows pointing at two platforms
    return (0.2 <= x <= 0.45 and 0.2 <= y <= 0.8 and abs(y - 0.5) <= (0.45 - x) * 1.2) or (0.55 <= x <= 0.8 and 0.25 <= y <= 0.75)


def scan(x, y):  # a lens
    d = ((x - 0.45) ** 2 + (y - 0.45) ** 2) ** 0.5
    return 0.17 <= d <= 0.26 or (abs((x - 0.62) - (y - 0.62)) < 0.07 and 0.6 <= x <= 0.82)


def icon(glyph):
    return lambda x, y: (WHITE if glyph(x, y) else BLUE) if rounded(x, y) else CLEAR


png(ROOT / "images" / "extension-icon.png", 128, icon(container))
for task, glyph in (("EnsureDocker", ensure), ("BuildForPlatform", build), ("ScanAndRelease", scan)):
    folder = ROOT / "tasks" / task
    folder.mkdir(parents=True, exist_ok=True)
    png(folder / "icon.png", 32, icon(glyph))
