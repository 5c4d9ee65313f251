"""A module whose forward branches on its input, for the export test (sql/export_python.sql):
writes it scripted to the file given, or with --check checks that an export of it kept both
branches. Usage: branchy.py OUT.pt | branchy.py --check EXPORT_BASE64_FILE"""
import base64
import io
import sys

import torch
from torch import nn


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x1, x2):
        x = torch.cat([x1, x2], 1)
        if bool(x.sum() > 0):
            return self.linear(x)
        return -self.linear(x)


if sys.argv[1] != "--check":
    torch.jit.save(torch.jit.script(Branchy()), sys.argv[1])
    sys.exit(0)
with open(sys.argv[2]) as f:
    exported = torch.jit.load(io.BytesIO(base64.b64decode(f.read())))
linear = exported.model.linear
print("parameters:", [name for name, _ in exported.named_parameters()])
with torch.no_grad():
    for x1, x2 in ((0.5, 0.25), (-0.5, -0.25)):
        a, b = torch.tensor([[x1]]), torch.tensor([[x2]])
        x = torch.cat([a, b], 1)
        expected = linear(x) if x1 + x2 > 0 else -linear(x)
        print("inputs summing to", x1 + x2, "take their branch:", torch.equal(exported(a, b), expected))
