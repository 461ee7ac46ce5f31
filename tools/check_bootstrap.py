#!/usr/bin/env python3
"""Check that a built Lambda `bootstrap` is an arm64 ELF executable and print
its size and the size of its deployment zip."""
import io
import os
import sys
import zipfile

path = sys.argv[1]
with open(path, "rb") as f:
    header = f.read(20)
assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
machine = int.from_bytes(header[18:20], "little")
assert machine == 183, f"{path} is not arm64 (e_machine {machine})"  # EM_AARCH64
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(path, "bootstrap")
print(f"bootstrap: arm64 ELF, {os.path.getsize(path):,} bytes; deployment zip {len(buf.getvalue()):,} bytes")
