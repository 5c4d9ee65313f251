"""The same training in plain PyTorch, the usual way: psycopg2 fetches the rows, a DataLoader
batches them. Prints key=value lines: the loop's samples/s, and the wall time from the start of
this script (imports and the fetch included).

    /usr/bin/python3 python_reference.py SOCKET_DIR PORT SPEC.json
"""
import time

start = time.time()

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import psycopg2  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

socket_dir, port, spec_path = sys.argv[1:4]
with open(spec_path) as f:
    spec = json.load(f)  # the same steps, batch size and learning rate as pinnacle_train's run
iterations = spec["max_iterations"]
batch_size = spec["loader_kwargs"]["batch_size"]
lr = spec["optimizer_kwargs"]["lr"]
scale = spec["transform"]["pixels"][0]["scale"]

torch.set_num_threads(1)
torch.manual_seed(0)

fetch_start = time.time()
conn = psycopg2.connect(host=socket_dir, port=port, user="postgres", dbname="postgres")
cur = conn.cursor()
cur.execute("SELECT pixels, label FROM images")
rows = cur.fetchall()
conn.close()
pixels = np.frombuffer(b"".join(row[0] for row in rows), dtype=np.uint8).reshape(len(rows), -1)
labels = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
fetch_s = time.time() - fetch_start

x = torch.from_numpy(pixels.astype(np.float32)) * scale
y = torch.from_numpy(labels)
loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
model = nn.Sequential(nn.Linear(x.shape[1], 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
optimizer = torch.optim.Adam(model.parameters(), lr=lr)
loss_fn = nn.CrossEntropyLoss()

loop_start = time.time()
steps = samples = 0
while steps < iterations:  # epochs until the same number of optimizer steps
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        steps += 1
        samples += len(xb)
        if steps == iterations:
            break
loop_s = time.time() - loop_start

print(f"python_rows={len(rows)}\npython_fetch_s={fetch_s:.3f}\npython_iterations={steps}\n"
      f"python_samples={samples}\npython_loop_s={loop_s:.3f}\npython_samples_per_s={samples / loop_s:.0f}\n"
      f"python_last_loss={loss.item():.4f}\npython_total_s={time.time() - start:.3f}")
