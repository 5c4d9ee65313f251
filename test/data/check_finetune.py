"""Checks that a layer list exported by pinnacle_export can be fine-tuned in Python: its model
part has the state_dict keys of the equivalent torch.nn.Sequential, with requires_grad on; those
weights loaded into that Sequential give the same outputs; and one optimizer step changes the
export's output.
Usage: check_finetune.py EXPORT_BASE64_FILE SEQUENTIAL INPUTS [LENGTHS]
SEQUENTIAL, INPUTS and LENGTHS are Python expressions (with torch and nn): the Sequential, a
list of one batch tensor per input column, and for a padded model (collate_fn "pad") a list of
their lengths. A transform is the export's own submodule: the Sequential gets what it returns.
Where our layer differs from torch.nn's, the Sequential uses the classes below, which hold
torch.nn's parameters under torch.nn's names."""
import base64
import io
import sys

import torch
from torch import nn


class Ids(nn.Embedding):
    """Our Embedding takes float ids, as the rows arrive."""

    def forward(self, x):
        return super().forward(x.long())


def outputs(rnn, last):
    """Our LSTM and GRU: batch first, one tensor out, every step's output or the last step's."""

    class Layer(rnn):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, batch_first=True, **kwargs)

        def forward(self, x):
            out = super().forward(x)[0]
            return out[:, -1] if last else out

    return Layer


names = {"nn": nn, "torch": torch, "Ids": Ids, "LastLSTM": outputs(nn.LSTM, True),
         "AllLSTM": outputs(nn.LSTM, False), "LastGRU": outputs(nn.GRU, True), "AllGRU": outputs(nn.GRU, False)}
with open(sys.argv[1]) as f:
    exported = torch.jit.load(io.BytesIO(base64.b64decode(f.read())))
torch.manual_seed(0)
sequential = eval(sys.argv[2], names).eval()
inputs = eval(sys.argv[3], names)
lengths = eval(sys.argv[4], names) if len(sys.argv) > 4 else []
state = exported.model.state_dict()
print("state_dict keys:", list(state))
print("the same keys as the Sequential's:", list(state) == list(sequential.state_dict()))
print("requires_grad:", all(p.requires_grad for p in exported.model.parameters()))
if hasattr(exported, "transform"):
    print("transform buffers:", list(exported.transform.state_dict()))
sequential.load_state_dict(state)
with torch.no_grad():
    before = exported(*inputs, *lengths)
    columns = exported.transform(*inputs) if hasattr(exported, "transform") else inputs
    # a padded model's rows here are full length: packing them changes nothing
    same = torch.allclose(before, sequential(torch.cat(columns, 1)), atol=1e-6, rtol=0)
print("loaded into the Sequential, the same outputs:", same)
optimizer = torch.optim.SGD(exported.parameters(), lr=0.1)
loss = (exported(*inputs, *lengths) - 1).pow(2).mean()
loss.backward()
optimizer.step()
with torch.no_grad():
    print("one optimizer step changes the output:", not torch.equal(before, exported(*inputs, *lengths)))
