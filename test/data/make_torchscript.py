"""Makes the TorchScript fixtures of the SQL tests (run with Debian's python3-torch, the same
libtorch version as the extension): python3 test/data/make_torchscript.py test/data"""
import os
import sys

import torch


class TwoInputs(torch.nn.Module):
    """forward(x1, x2): works with signature *args and, by name, **kwargs."""

    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(2, 16)
        self.out = torch.nn.Linear(16, 1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(torch.cat([x1, x2], dim=1))))


class OneInput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


if __name__ == "__main__":
    torch.manual_seed(0)
    out = sys.argv[1]
    torch.jit.save(torch.jit.script(TwoInputs()), os.path.join(out, "two_inputs.pt"))
    torch.jit.save(torch.jit.script(OneInput()), os.path.join(out, "one_input.pt"))
