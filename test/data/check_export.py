"""Loads a model exported by pinnacle_export with torch.jit.load and compares its output with
pinnacle_predict's. Usage: check_export.py EXPORT_BASE64_FILE INPUTS_JSON EXPECTED_JSON_FILE [LENGTHS_JSON]
INPUTS_JSON: one list per input column of one row; the file: pinnacle_predict's real[] as JSON.
LENGTHS_JSON, for a model trained with collate_fn "pad": each input's real length (its list
is right-padded with zeros to the model's width)."""
import base64
import io
import json
import sys

import torch

with open(sys.argv[1]) as f:
    module = torch.jit.load(io.BytesIO(base64.b64decode(f.read())))
inputs = [torch.tensor([column], dtype=torch.float32) for column in json.loads(sys.argv[2])]
if len(sys.argv) > 4:
    inputs += [torch.tensor([length]) for length in json.loads(sys.argv[4])]
with open(sys.argv[3]) as f:
    expected = torch.tensor(json.load(f), dtype=torch.float32)
actual = module(*inputs)[0]
print("python torch.jit.load gives pinnacle_predict's output:",
      bool(torch.allclose(actual, expected, atol=1e-5, rtol=0)))
