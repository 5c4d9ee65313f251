"""Writes table images to two IDX files (the MNIST format), for bench/plain_libtorch:
OUT_DIR/images-idx3-ubyte (rows x 28 x 28 bytes, from the bytea column pixels) and
OUT_DIR/labels-idx1-ubyte (one byte per row), the rows in the same order in both.

    /usr/bin/python3 export_idx.py SOCKET_DIR PORT OUT_DIR
"""
import os
import struct
import sys

import psycopg2

socket_dir, port, out_dir = sys.argv[1:4]
conn = psycopg2.connect(host=socket_dir, port=port, user="postgres", dbname="postgres")
cur = conn.cursor()
cur.execute("SELECT pixels, label FROM images")
rows = cur.fetchall()
conn.close()
if any(len(pixels) != 784 for pixels, _ in rows):
    sys.exit("export_idx.py: every image must have 784 bytes")
with open(os.path.join(out_dir, "images-idx3-ubyte"), "wb") as f:
    f.write(struct.pack(">iiii", 0x803, len(rows), 28, 28))
    f.write(b"".join(bytes(pixels) for pixels, _ in rows))
with open(os.path.join(out_dir, "labels-idx1-ubyte"), "wb") as f:
    f.write(struct.pack(">ii", 0x801, len(rows)))
    f.write(bytes(label for _, label in rows))
print(f"export_rows={len(rows)}")
