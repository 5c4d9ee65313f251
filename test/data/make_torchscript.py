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


class MaskedMean(torch.nn.Module):
    """forward(x, lengths): collate_fn "pad" passes each input's lengths after the inputs.
    Learns an affine map of the mean of each row's real values."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.size(1)).unsqueeze(0)
        mask = (positions < lengths.unsqueeze(1)).to(x.dtype)
        mean = (x * mask).sum(dim=1, keepdim=True) / lengths.unsqueeze(1).to(x.dtype)
        return self.linear(mean)


if __name__ == "__main__":
    torch.manual_seed(0)
    out = sys.argv[1]
    torch.jit.save(torch.jit.script(TwoInputs()), os.path.join(out, "two_inputs.pt"))
    torch.jit.save(torch.jit.script(OneInput()), os.path.join(out, "one_input.pt"))
    torch.jit.save(torch.jit.script(MaskedMean()), os.path.join(out, "masked_mean.pt"))
