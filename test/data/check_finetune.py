"""Checks that a layer list exported by pinnacle_export can be fine-tuned in Python: its model
part has the state_dict keys of the equivalent torch.nn.Sequential, with requires_grad on; those
weights loaded into that Sequential give the same outputs; and one optimizer step changes the
export's output. Usage: check_finetune.py EXPORT_BASE64_FILE SEQUENTIAL (a Python expression)"""
import base64
import io
import sys

import torch
from torch import nn

with open(sys.argv[1]) as f:
    exported = torch.jit.load(io.BytesIO(base64.b64decode(f.read())))
sequential = eval(sys.argv[2], {"nn": nn})
state = exported.model.state_dict()
print("state_dict keys:", list(state))
print("the same keys as the Sequential's:", list(state) == list(sequential.state_dict()))
print("requires_grad:", all(p.requires_grad for p in exported.parameters()))
sequential.load_state_dict(state)
x1, x2 = torch.linspace(-1, 1, 7).reshape(7, 1), torch.linspace(1, -1, 7).reshape(7, 1)
with torch.no_grad():
    before = exported(x1, x2)
    same = torch.equal(before, sequential(torch.cat([x1, x2], 1)))
print("loaded into the Sequential, the same outputs:", same)
optimizer = torch.optim.SGD(exported.parameters(), lr=0.1)
loss = (exported(x1, x2) - 1).pow(2).mean()
loss.backward()
optimizer.step()
with torch.no_grad():
    print("one optimizer step changes the output:", not torch.equal(before, exported(x1, x2)))
