"""The authors' PyTorch Axial-ResNets as an import source.

github:csrhddlam/axial-deeplab, `lib/models/axialnet.py`: `axial26s`
(published weights) and `axial50s`, `axial50m`, `axial50l`, rows
`axial_resnet_{26s,50s,50m,50l}` of our variant table (stride_mode
'avg_pool', symmetric stem padding, tables sized per block) in the
experiments `axial_resnet_<name>_imagenet`.

How each PyTorch tensor lands in our classifier (`mapping(model)`):

| PyTorch | ours |
|---|---|
| `conv1`, `bn1` | `backbone/stem` 7x7 conv and its BN |
| `layer<s>.<b>.conv_down` / `bn1` | block `stage<s>_block<b+1>` `reduce` / `reduce_bn` |
| `.hight_block`, `.width_block` | its `attention/height`, `attention/width` |
| `.conv_up` / `bn2` | `expand` / `expand_bn` |
| `.downsample.0` / `.1` | `shortcut` / `shortcut_bn` |
| `fc` | `head` (Dense, transposed) |

Inside an attention module (`groups` heads G, `group_planes` P per head;
per head q and k have P/2 channels, v has P):

* `qkv_transform` (Conv1d `[2 G P, C, 1]`) and `bn_qkv`: PyTorch orders
  the outputs by head, then (q, k, v); ours by (q, k, v), then head:
  a permutation of the output channels.
* `relative` `[2P, 2K - 1]` (K = kernel_size, the attended length):
  rows `[0, P/2)` r^q, `[P/2, P)` r^k, `[P, 2P)` r^v; column `c` is the
  offset `c - (K - 1)` of query minus key for r^q and r^v and of key
  minus query for r^k. Our tables `[2 d + 1, depth]` index key minus
  query, so d = K - 1 and r^q, r^v are reversed along the offset.
* `bn_similarity` (3 G channels: qk, qr, kr, each by head) -> our
  similarity norm `[3, G]` (content, r^q, r^k), the same order.
* `bn_output` (2 G P channels, channel `2 c + t` for output channel c and
  term t in (sv, sve)) -> our output norm `[2, G, P]`.

Batch norms: weight, bias, running_mean, running_var -> gamma, beta,
moving_mean, moving_variance. `num_batches_tracked` and `flatten_index`
(an index buffer derived from K) hold no weights and are not imported.
"""

import dataclasses
import re
from typing import Callable, Dict, List, Tuple

import numpy as np

from axial_deeplab_tf.checkpoints import torch_pickle

# Buffers that hold no weights.
IGNORED_SUFFIXES = ('num_batches_tracked', 'flatten_index')


@dataclasses.dataclass(frozen=True)
class Model:
  """One PyTorch model function: its depth and width, our experiment."""
  stage_blocks: Tuple[int, int, int, int]
  width: float
  experiment: str


MODELS = {
    name: Model(blocks, width, f'axial_resnet_{name[5:]}_imagenet')
    for name, blocks, width in (('axial26s', (1, 2, 4, 1), 0.5),
                                ('axial50s', (3, 4, 6, 3), 0.5),
                                ('axial50m', (3, 4, 6, 3), 0.75),
                                ('axial50l', (3, 4, 6, 3), 1.0))}


@dataclasses.dataclass(frozen=True)
class Entry:
  """One of our variables, read from PyTorch tensor `key` by `convert`."""
  key: str
  variable: object
  convert: Callable[[np.ndarray], np.ndarray]


def read(path) -> Dict[str, np.ndarray]:
  """The state dict in `path`: unwraps `{'state_dict': ...}` / `{'net':
  ...}` (the authors' trainer) and strips DataParallel's `module.`."""
  state = torch_pickle.read_pth(path)
  for wrapper in ('state_dict', 'net'):
    if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
      state = state[wrapper]
  if not isinstance(state, dict) or not all(
      isinstance(v, np.ndarray) for v in state.values()):
    raise torch_pickle.TorchFileError(
        'holds no state dict (a dict of tensors, optionally under '
        "'state_dict' or 'net')")
  return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def describe(state) -> Tuple[Tuple[int, ...], int]:
  """(blocks per stage, stem channels) of a state dict."""
  blocks = []
  for stage in range(1, 5):
    indices = {int(m.group(1)) for k in state
               for m in [re.match(rf'layer{stage}\.(\d+)\.', k)] if m}
    blocks.append(len(indices))
  stem = state['conv1.weight'].shape[0] if 'conv1.weight' in state else 0
  return tuple(blocks), stem


def looks_like(state) -> str:
  """Which model function a state dict looks like, in words."""
  blocks, stem = describe(state)
  found = [name for name, m in MODELS.items()
           if m.stage_blocks == blocks and int(64 * m.width) == stem]
  what = f'stage blocks {list(blocks)}, stem width {stem}'
  if found:
    return f'{found[0]} ({what})'
  return f'none of {sorted(MODELS)} ({what})'


def check_architecture(state, name, variant):
  """None, or why `state` is not a checkpoint of the built `variant`
  (named `name`)."""
  expected = (tuple(variant.stage_blocks), variant.stem_width)
  if describe(state) != expected:
    return (f'it is not a checkpoint of {name}: it looks like '
            f'{looks_like(state)}')
  return None


def _same(x):
  return x


def _conv_kernel(w):
  """Conv2d `[out, in, h, w]` (or Conv1d `[out, in, 1]`) -> HWIO."""
  if w.ndim == 3:
    w = w[..., None]
  return np.transpose(w, (2, 3, 1, 0))


def _batch_norm(prefix, layer, convert=_same):
  return [Entry(f'{prefix}.{key}', getattr(layer, attribute), convert)
          for key, attribute in (('weight', 'gamma'), ('bias', 'beta'),
                                 ('running_mean', 'moving_mean'),
                                 ('running_var', 'moving_variance'))]


def _attention(prefix, layer) -> List[Entry]:
  """Entries of one `PositionSensitiveAxialAttention` (module docstring)."""
  heads = layer.num_heads
  qk = layer.key_depth // heads
  v = layer.value_depth // heads
  per_head = 2 * qk + v
  # Our channel i reads PyTorch channel perm[i].
  perm = np.concatenate(
      [h * per_head + start + np.arange(size)
       for start, size in ((0, qk), (qk, qk), (2 * qk, v))
       for h in range(heads)])
  entries = [Entry(f'{prefix}.qkv_transform.weight',
                   layer.qkv_projection.kernel,
                   lambda w: _conv_kernel(w[perm]))]
  entries += _batch_norm(f'{prefix}.bn_qkv', layer.qkv_norm,
                         lambda x: x[perm])
  entries += _batch_norm(f'{prefix}.bn_similarity', layer.similarity_norm,
                         lambda x: x.reshape(3, -1))
  entries += _batch_norm(f'{prefix}.bn_output', layer.output_norm,
                         lambda x: x.reshape(-1, 2).T.reshape(2, heads, -1))
  relative = f'{prefix}.relative'
  entries += [
      Entry(relative, layer.query_table, lambda r: r[:qk].T[::-1]),
      Entry(relative, layer.key_table, lambda r: r[qk:2 * qk].T),
      Entry(relative, layer.value_table, lambda r: r[2 * qk:].T[::-1])]
  return entries


def mapping(model) -> List[Entry]:
  """Every variable of our built classifier with its PyTorch source."""
  backbone = model.backbone
  stem = backbone.get_layer('stem').stem_layers[0]
  entries = [Entry('conv1.weight', stem.conv.kernel, _conv_kernel)]
  entries += _batch_norm('bn1', stem.norm)
  for stage, count in enumerate(backbone.variant.stage_blocks):
    for index in range(count):
      block = backbone.get_layer(f'stage{stage + 1}_block{index + 1}')
      p = f'layer{stage + 1}.{index}'
      entries.append(Entry(f'{p}.conv_down.weight', block.reduce.kernel,
                           _conv_kernel))
      entries += _batch_norm(f'{p}.bn1', block.reduce_norm)
      entries += _attention(f'{p}.hight_block',
                            block.attention.height_attention)
      entries += _attention(f'{p}.width_block',
                            block.attention.width_attention)
      entries.append(Entry(f'{p}.conv_up.weight', block.expand.kernel,
                           _conv_kernel))
      entries += _batch_norm(f'{p}.bn2', block.expand_norm)
      if block.projection is not None:
        entries.append(Entry(f'{p}.downsample.0.weight',
                             block.projection.kernel, _conv_kernel))
        entries += _batch_norm(f'{p}.downsample.1', block.projection_norm)
  entries.append(Entry('fc.weight', model.head.kernel, np.transpose))
  entries.append(Entry('fc.bias', model.head.bias, _same))
  return entries
