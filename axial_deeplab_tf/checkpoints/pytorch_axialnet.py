"""The authors' PyTorch Axial-ResNets as an import source.

github:csrhddlam/axial-deeplab, `lib/models/axialnet.py`: `axial26s`
(published weights) and `axial50s`, `axial50m`, `axial50l`, rows
`axial_resnet_{26s,50s,50m,50l}` of our variant table (stride_mode
'avg_pool', symmetric stem padding, tables sized per block) in the
experiments `axial_resnet_<name>_imagenet`.

Where each of our classifier's variables comes from (`source(name,
num_heads)`, by variable name):

| PyTorch | ours |
|---|---|
| `conv1`, `bn1` | `stem/conv7x7/conv`, `stem/conv7x7/bn` |
| `layer<s>.<b>.conv_down` / `bn1` | block `stage<s>_block<b+1>` `reduce` / `reduce_bn` |
| `.hight_block`, `.width_block` | its `attention/height`, `attention/width` |
| `.conv_up` / `bn2` | `expand` / `expand_bn` |
| `.downsample.0` / `.1` | `shortcut` / `shortcut_bn` |
| `fc` | `logits` (the Dense head, kernel transposed) |

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
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from axial_deeplab_tf.checkpoints import torch_pickle

# Buffers that hold no weights.
IGNORED_SUFFIXES = ('num_batches_tracked', 'flatten_index')
FILE_ERRORS = (torch_pickle.TorchFileError,)


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


def _qkv_order(channels, heads):
  """Our channel i reads PyTorch channel `order[i]` of a qkv output of
  `channels` = heads * (q, k, v) channels."""
  per_head = channels // heads
  qk, v = per_head // 4, per_head // 2
  return np.concatenate([h * per_head + start + np.arange(size)
                         for start, size in ((0, qk), (qk, qk), (2 * qk, v))
                         for h in range(heads)])


def _table(part, rows):
  """Converts `relative` `[2P, 2K - 1]` to our r^q, r^k or r^v table of
  `rows` = 2 d + 1 rows (None: 2 K - 1). With d > K - 1 the extra offsets
  repeat the edge rows, as clipping at K - 1 would."""
  def convert(r):
    qk = r.shape[0] // 4
    table = {'query': r[:qk], 'key': r[qk:2 * qk], 'value': r[2 * qk:]}[part]
    table = table.T if part == 'key' else table.T[::-1]
    extra = (rows - table.shape[0]) // 2 if rows else 0
    if extra > 0:
      table = np.pad(table, [(extra, extra), (0, 0)], mode='edge')
    return table
  return convert


_BATCH_NORM = {'gamma': 'weight', 'beta': 'bias',
               'moving_mean': 'running_mean', 'moving_variance': 'running_var'}
_BLOCK_LAYERS = {'reduce': 'conv_down', 'reduce_bn': 'bn1', 'expand': 'conv_up',
                 'expand_bn': 'bn2', 'shortcut': 'downsample.0',
                 'shortcut_bn': 'downsample.1'}
_AXES = {'height': 'hight_block', 'width': 'width_block'}
_TABLES = {'query_rpe': 'query', 'key_rpe': 'key', 'value_rpe': 'value'}


def _attention_source(prefix, path, num_heads, shape):
  """`path` below `attention/<axis>/` -> (key, convert) or None."""
  if len(path) == 1 and path[0] in _TABLES:
    return f'{prefix}.relative', _table(_TABLES[path[0]],
                                        shape[0] if shape else None)
  if path == ['qkv', 'kernel']:
    return (f'{prefix}.qkv_transform.weight',
            lambda w: _conv_kernel(w[_qkv_order(w.shape[0], num_heads)]))
  if len(path) != 2 or path[1] not in _BATCH_NORM:
    return None
  key = _BATCH_NORM[path[1]]
  if path[0] == 'qkv_bn':
    return (f'{prefix}.bn_qkv.{key}',
            lambda x: x[_qkv_order(x.shape[0], num_heads)])
  if path[0] == 'similarity_bn':
    return f'{prefix}.bn_similarity.{key}', lambda x: x.reshape(3, -1)
  if path[0] == 'output_bn':
    return (f'{prefix}.bn_output.{key}',
            lambda x: x.reshape(-1, 2).T.reshape(2, num_heads, -1))
  return None


def _layer_source(key, path, convolution=_conv_kernel):
  """A conv (`kernel`) or batch norm below `key` -> (key, convert)."""
  if path == ['kernel']:
    return f'{key}.weight', convolution
  if len(path) == 1 and path[0] in _BATCH_NORM:
    return f'{key}.{_BATCH_NORM[path[0]]}', _same
  return None


def source(name: str, num_heads: int, shape: Optional[Tuple[int, ...]] = None
           ) -> Optional[Tuple[str, Callable[[np.ndarray], np.ndarray]]]:
  """The PyTorch key of our classifier's variable `name` and the function
  that converts that tensor to our layout (see the module docstring);
  None when `name` has no PyTorch counterpart.

  Args:
    name: a variable name (`stage2_block1/attention/height/qkv/kernel:0`;
      any scope before `stem/`, `stage<s>_block<b>/` or `logits/` is
      ignored).
    num_heads: the attention heads (PyTorch's `groups`).
    shape: the variable's shape; a relative-position table larger than
      PyTorch's is filled by repeating its edge rows (the same function,
      since larger offsets clip to the edge rows).
  """
  parts = re.sub(r':\d+$', '', name).split('/')
  for i, part in enumerate(parts):
    block = re.fullmatch(r'stage(\d)_block(\d+)', part)
    path = parts[i + 1:]
    if part == 'logits' and path == ['bias']:
      return 'fc.bias', _same
    if part == 'logits':
      return _layer_source('fc', path, np.transpose)
    if part == 'stem' and len(path) == 3 and path[0] == 'conv7x7':
      key = {'conv': 'conv1', 'bn': 'bn1'}.get(path[1])
      return key and _layer_source(key, path[2:])
    if block:
      prefix = f'layer{block[1]}.{int(block[2]) - 1}'
      if path[:1] == ['attention'] and path[1:2] and path[1] in _AXES:
        return _attention_source(f'{prefix}.{_AXES[path[1]]}', path[2:],
                                 num_heads, shape)
      if path[:1] and path[0] in _BLOCK_LAYERS:
        return _layer_source(f'{prefix}.{_BLOCK_LAYERS[path[0]]}', path[1:])
      return None
  return None
