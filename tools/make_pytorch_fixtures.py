r"""Writes the PyTorch fixtures of tests/checkpoints (not run by CI).

The fixtures are data produced by running the authors' public PyTorch code
(github:csrhddlam/axial-deeplab, lib/models/axialnet.py); the tests read
them without torch. This script needs torch (CPU) and a checkout of that
repository; run it outside the project's venv, e.g.

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch numpy
    git clone https://github.com/csrhddlam/axial-deeplab /tmp/axial-deeplab
    /tmp/torchenv/bin/python tools/make_pytorch_fixtures.py \
        --repo /tmp/axial-deeplab --output tests/fixtures/pytorch_axialnet

It writes to --output:

* `tiny32.pth`, `tiny32_legacy.pth`, `tiny64.pth`: state dicts of reduced
  `AxialAttentionNet`s (width s = 1/32, 2 heads, blocks (1, 2, 1, 1), 10
  classes) with random weights and random batch-norm statistics. The
  authors' model sizes its attention tables to the feature sizes of a
  224 input and runs at that size only, so each reduced model is built for
  its input size (32 or 64) by scaling the `kernel_size` that the model
  passes to `_make_layer`; tiny64 has its own random weights. tiny32.pth
  is a plain state dict in torch's zip format; tiny32_legacy.pth the same
  tensors in the legacy (non-zip) format, wrapped as `{'state_dict': ...}`
  with DataParallel's `module.` prefix; tiny64.pth is zip, wrapped as the
  authors' trainer saves (`{'net': ..., 'epoch': ...}`, `module.` prefix).
* `outputs.npz`: uint8 images (NHWC; the model input is `image / 64 - 2`)
  and the eval-mode logits of each reduced model on them.
* `fixtures.json`: for each reduced model its file(s), input size and
  architecture (stage blocks, width s, groups, attention kernel size of
  every block in order, classes).
* `full_state_dicts.json.gz`: for each full-size model (axial26s,
  axial50s/m/l, default arguments) the name -> shape manifest of its
  state dict and its parameter count.
"""

import argparse
import gzip
import json
import os
import sys
import types

import numpy as np
import torch

TINY = dict(layers=[1, 2, 1, 1], s=1 / 32, groups=2, num_classes=10)
FULL = ('axial26s', 'axial50s', 'axial50m', 'axial50l')


def load_axialnet(repo):
  """The authors' `lib.models.axialnet`, without `lib/__init__`'s data
  and training imports (torchvision)."""
  package = types.ModuleType('lib')
  package.__path__ = [os.path.join(repo, 'lib')]
  sys.modules['lib'] = package
  from lib.models import axialnet  # pylint: disable=import-outside-toplevel
  return axialnet


def sized_net(axialnet, input_size, **kwargs):
  """An `AxialAttentionNet` whose attention kernel sizes fit `input_size`
  (the original's are those of a 224 input)."""

  class SizedNet(axialnet.AxialAttentionNet):

    def _make_layer(self, block, planes, blocks, kernel_size=56, stride=1,
                    dilate=False):
      return super()._make_layer(block, planes, blocks,
                                 kernel_size * input_size // 224, stride,
                                 dilate)

  return SizedNet(axialnet.AxialBlock, **kwargs)


def randomize(model, generator):
  """Random weights everywhere, random batch-norm statistics."""
  with torch.no_grad():
    for name, tensor in model.state_dict().items():
      if not tensor.is_floating_point():
        continue
      shape = tensor.shape
      if name.endswith('running_var'):
        value = torch.rand(shape, generator=generator) + 0.5
      elif name.endswith('running_mean') or name.endswith('bias'):
        value = 0.2 * torch.randn(shape, generator=generator)
      elif 'bn' in name or 'downsample.1' in name:  # batch-norm gamma
        value = torch.rand(shape, generator=generator) + 0.5
      else:  # conv / linear weight, relative table: fan-in scaled
        fan_in = max(1, tensor[0].numel()) if tensor.dim() > 1 else 1
        value = torch.randn(shape, generator=generator) / fan_in**0.5
      tensor.copy_(value)


def prefixed(state_dict):
  return {f'module.{k}': v for k, v in state_dict.items()}


def architecture(model, input_size):
  kernels = [m.kernel_size for m in model.modules()
             if type(m).__name__ == 'AxialAttention' and not m.width]
  return dict(input_size=input_size, stage_blocks=TINY['layers'],
              s=TINY['s'], groups=TINY['groups'],
              num_classes=TINY['num_classes'], kernel_sizes=kernels)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--repo', required=True,
                      help="checkout of github:csrhddlam/axial-deeplab")
  parser.add_argument('--output', required=True)
  args = parser.parse_args()
  axialnet = load_axialnet(args.repo)
  os.makedirs(args.output, exist_ok=True)
  generator = torch.Generator().manual_seed(0)
  rng = np.random.RandomState(0)
  index, full = {}, {}
  outputs = {}
  for size, batch in ((32, 2), (64, 1)):
    name = f'tiny{size}'
    model = sized_net(axialnet, size, layers=TINY['layers'], s=TINY['s'],
                      groups=TINY['groups'],
                      num_classes=TINY['num_classes'])
    randomize(model, generator)
    model.eval()
    images = rng.randint(0, 256, [batch, size, size, 3]).astype(np.uint8)
    x = torch.from_numpy(images.astype(np.float32) / 64 - 2)
    with torch.no_grad():
      logits = model(x.permute(0, 3, 1, 2)).numpy()
    outputs[f'{name}_images'] = images
    outputs[f'{name}_logits'] = logits
    state = model.state_dict()
    entry = architecture(model, size)
    if size == 32:
      torch.save(state, os.path.join(args.output, 'tiny32.pth'))
      torch.save({'state_dict': prefixed(state)},
                 os.path.join(args.output, 'tiny32_legacy.pth'),
                 _use_new_zipfile_serialization=False)
      entry['files'] = ['tiny32.pth', 'tiny32_legacy.pth']
    else:
      torch.save({'net': prefixed(state), 'epoch': 3},
                 os.path.join(args.output, 'tiny64.pth'))
      entry['files'] = ['tiny64.pth']
    index[name] = entry
  np.savez_compressed(os.path.join(args.output, 'outputs.npz'), **outputs)
  for name in FULL:
    model = getattr(axialnet, name)()
    full[name] = dict(
        parameters=sum(p.numel() for p in model.parameters()),
        state_dict={k: list(v.shape) for k, v in model.state_dict().items()})
  with open(os.path.join(args.output, 'fixtures.json'), 'w') as f:
    json.dump(index, f, indent=1, sort_keys=True)
  with gzip.open(os.path.join(args.output, 'full_state_dicts.json.gz'),
                 'wt') as f:
    json.dump(full, f, sort_keys=True)
  for file in sorted(os.listdir(args.output)):
    print(file, os.path.getsize(os.path.join(args.output, file)))


if __name__ == '__main__':
  main()
