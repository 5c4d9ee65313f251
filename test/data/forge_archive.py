"""Forges an archive of pinnacle_export the way an attack did: libtorch's loader trusts the
storage offsets and sizes an archive declares. Usage: forge_archive.py IN_B64 OUT_B64 MODE
  offset: the first tensor of pinnacle/optimizer_state starts 2^28 values into its storage
  short:  the largest storage record of pinnacle/optimizer_state keeps 4 of its bytes (the
          records are in the order of the optimizer's state, which follows the parameters'
          addresses: the first may hold no more than 4 bytes)"""
import base64
import io
import struct
import sys
import zipfile


def rezip(data, edit):
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info.filename, edit(info.filename, source.read(info.filename)))
    return out.getvalue()


def far_offset(name, data):
    if not name.endswith("/data.pkl"):
        return data
    persistent_id = data.index(b"Q")  # the first tensor's storage, then its offset (0) and sizes
    at = data.index(b"K\x00(", persistent_id)
    return data[:at] + b"J" + struct.pack("<i", 1 << 28) + b"(" + data[at + 3:]


def short_largest_record(state):
    records = zipfile.ZipFile(io.BytesIO(state))
    largest = max((info for info in records.infolist() if "/data/" in info.filename), key=lambda info: info.file_size)
    return rezip(state, lambda name, data: data[:4] if name == largest.filename else data)


mode = {"offset": lambda state: rezip(state, far_offset), "short": short_largest_record}[sys.argv[3]]
with open(sys.argv[1]) as f:
    archive = base64.b64decode(f.read())
forged = rezip(archive, lambda name, data: mode(data) if name.endswith("extra/pinnacle/optimizer_state") else data)
with open(sys.argv[2], "w") as f:
    f.write(base64.b64encode(forged).decode())
