"""Makes the hostile TorchScript modules of test/t/009_hostile.pl, each in the folder given:
python3 test/data/make_hostile_modules.py OUT. Every module trains like a linear model on two
inputs in [-1, 1] and turns hostile on an input above 100 (or while training, or on load)."""
import io
import os
import random
import sys
import zipfile
from typing import List, Tuple

import torch


class EmptyOutput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x[0, 0] > 100):
            return torch.empty(x.size(0), 0)
        return self.linear(x)


class MetaOutput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x[0, 0] > 100):
            return torch.empty(x.size(0), 1, device="meta")
        return self.linear(x)


class ShortOutput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        if bool(x[0, 0] > 100):
            return y[:, :1]
        return y


class KeepsInput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.previous = torch.zeros(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x) + 0 * self.previous.sum()
        self.previous = x
        return out


class LoopsPredicting(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while bool(x[0, 0] > 100):
            x = x * 1.0
        return self.linear(x)


class LoopsTraining(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while self.training:
            x = x * 1.0
        return self.linear(x)


class LoopsChecking(torch.nn.Module):
    """Loops in eval mode, as pinnacle_train's model check runs it before a run is on record."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while not self.training:
            x = x * 1.0
        return self.linear(x)


class WrongShapeTraining(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        if self.training:
            return y.unsqueeze(0).expand(3, x.size(0), 1)
        return y


class AllocatesTraining(torch.nn.Module):
    """Passes every check (which runs it in eval mode), then asks for 2 GB at each training step."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        if self.training:
            y = y + 0 * torch.ones(500000000).sum()
        return y


class LoopsLoading(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] * self.scale

    @torch.jit.export
    def __getstate__(self) -> Tuple[float, bool]:
        return (self.scale, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[float, bool]) -> None:
        self.scale = state[0]
        self.training = state[1]
        while self.scale > 0.0:
            self.scale = self.scale * 1.0


def deep(archive: bytes, depth: int) -> bytes:
    """The archive with its forward's code replaced by an expression nested `depth` deep."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("code/__torch__.py"):
                text = data.decode()
                start = text.index("    return ")
                end = text.index("\n", start)
                nested = "(" * depth + "x" + " + 1.)" * depth
                data = (text[:start] + "    return torch.narrow(" + nested + ", 1, 0, 1)" + text[end:]).encode()
            target.writestr(item, data)
    return out.getvalue()


class Prints(torch.nn.Module):
    """Prints at every step and every prediction: all of it would go to the server log."""
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(100):
            print("PINNACLE_MODULE_PRINTED")
        return self.linear(x)


class ListedTensor(torch.nn.Module):
    """A tensor in a List attribute, which the archive's record then cuts to 4 bytes (short_record):
    libtorch's loader trusts the size the pickle declares, and reads past the record."""
    def __init__(self):
        super().__init__()
        self.weights: List[torch.Tensor] = [torch.ones(4096)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] * self.weights[0][:1]


def short_record(archive: bytes) -> bytes:
    """The archive with its first tensor record (data/0) cut to 4 bytes."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, data[:4] if item.filename.endswith("/data/0") else data)
    return out.getvalue()


def save(module: torch.nn.Module, path: str) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    return buffer.getvalue()


if __name__ == "__main__":
    torch.manual_seed(0)
    out = sys.argv[1]
    saved = {name: save(module, os.path.join(out, name + ".pt"))
             for name, module in [("empty_output", EmptyOutput()), ("meta_output", MetaOutput()),
                                             ("short_output", ShortOutput()),
                                  ("keeps_input", KeepsInput()), ("loops_predicting", LoopsPredicting()),
                                  ("loops_training", LoopsTraining()), ("loops_loading", LoopsLoading()),
                                  ("loops_checking", LoopsChecking()),
                                  ("wrong_shape_training", WrongShapeTraining()),
                                  ("allocates_training", AllocatesTraining()), ("prints", Prints())]}
    plain = save(torch.nn.Sequential(torch.nn.Linear(2, 1)), os.path.join(out, "plain.pt"))
    with open(os.path.join(out, "deep.pt"), "wb") as f:
        f.write(deep(saved["empty_output"], 20000))
    with open(os.path.join(out, "listed_short.pt"), "wb") as f:
        f.write(short_record(save(ListedTensor(), os.path.join(out, "listed.pt"))))
    # a fuzzed archive: the plain module's bytes with random flips, 20 of them
    rng = random.Random(7)
    for i in range(20):
        data = bytearray(plain)
        for _ in range(8):
            data[rng.randrange(len(data))] = rng.randrange(256)
        with open(os.path.join(out, "fuzzed_%02d.pt" % i), "wb") as f:
            f.write(bytes(data))
