"""deeplab2's residual blocks and axial attention, mapped onto ours.

The one place that says where a variable of our bottleneck blocks
(`layers.blocks`) and attention layers (`layers.attention`) comes from in
a deeplab2 checkpoint (keys as `deeplab2_reader` returns them). Every
deeplab2 backbone built of these blocks (MaX-DeepLab-S/L, Axial-ResNet,
Axial-DeepLab, Axial-SWideRNet) uses these functions; a model's source
module only says which deeplab2 block a block of ours is.

deeplab2's `AxialBlock` with three filters `(2f, f, 4f)` (its
`attention_bottleneck_expansion` 2, `key_expansion` 1, `value_expansion`
2) is our bottleneck of base width f:

| deeplab2 (below the block) | ours (below the block) |
|---|---|
| `_conv1_bn_act/_conv`, `/_batch_norm` | `reduce`, `reduce_bn` |
| `_conv2_bn_act/_conv`, `/_batch_norm` (conv block) | `conv3x3`, `conv3x3_bn` |
| `_attention/_height_axis`, `_width_axis` (axial block) | `attention/height`, `attention/width` |
| `_conv3_bn/_conv`, `/_batch_norm` | `expand`, `expand_bn` |
| `_shortcut/_conv`, `/_batch_norm` | `shortcut`, `shortcut_bn` |

deeplab2's block returns the sum before the activation and activates its
input (the shortcut reads the activated input); ours activates the sum.
Chained, both compute the same function: our block of `relu(x)` is
`relu` of deeplab2's block of `x`.

Inside one axial-attention layer (`AxialAttention`, H heads):

* `qkv_kernel` `[C, 2K + V]` (an einsum kernel) is our 1x1 conv kernel
  `[1, 1, C, 2K + V]`; both split the channels into q, k, v and then
  each into H heads of consecutive channels, so only the shape changes.
  `_batch_norm_qkv` is our `qkv_bn`.
* `_query_rpe`, `_key_rpe`, `_value_rpe` `/embeddings` `[2 * 255 - 1, d]`:
  row `r` is the offset `r - 254` of key minus query, as in our tables of
  `max_distance` 254 (our default). deeplab2 attends globally only
  (lengths <= its `query_shape`, 129 by default; it refuses longer axes),
  so every offset it uses (|offset| <= 128) has its own row in both, and
  our model computes the same function at every size where deeplab2
  runs, and beyond (both clip larger offsets to the edge rows).
* `_batch_norm_similarity` `[3, 1, H, 1, 1]` (content, query-rpe,
  key-rpe terms, per head) is our `similarity_bn` `[3, H]`;
  `_batch_norm_retrieved_output` `[2, 1, H, 1, V / H]` (content, value-rpe
  terms, per head and channel) is our `output_bn` `[2, H, V / H]`.

Batch norms keep Keras' names (gamma, beta, moving_mean,
moving_variance); deeplab2's defaults are ours (momentum 0.99, epsilon
1e-3).
"""

from typing import Callable, List, Optional, Tuple

import numpy as np

Source = Optional[Tuple[str, Callable[[np.ndarray], np.ndarray]]]
BATCH_NORM = ('gamma', 'beta', 'moving_mean', 'moving_variance')
_AXES = {'height': '_height_axis', 'width': '_width_axis'}
_TABLES = {'query_rpe': '_query_rpe', 'key_rpe': '_key_rpe',
           'value_rpe': '_value_rpe'}
# Our block sublayer -> deeplab2's Conv2DSame (conv, batch norm) of it.
_BLOCK_LAYERS = {'reduce': '_conv1_bn_act', 'conv3x3': '_conv2_bn_act',
                 'expand': '_conv3_bn', 'shortcut': '_shortcut'}


def _same(x):
  return x


def conv_bn_source(prefix: str, path: List[str]) -> Source:
  """A deeplab2 `Conv2DSame` (`<prefix>/_conv`, `<prefix>/_batch_norm`)
  for our `[conv, 'kernel']` / `[conv_bn, <bn weight>]` path ends:
  `path` is `['kernel']` (the conv) or `['bn', name]`."""
  if path == ['kernel']:
    return f'{prefix}/_conv/kernel', _same
  if len(path) == 2 and path[0] == 'bn' and path[1] in BATCH_NORM:
    return f'{prefix}/_batch_norm/{path[1]}', _same
  return None


def attention_source(prefix: str, path: List[str],
                     shape: Tuple[int, ...]) -> Source:
  """One deeplab2 `AxialAttention` at `prefix` (e.g.
  `encoder/_stage4/_block2/_attention/_height_axis`) for a variable at
  `path` below one of our `PositionSensitiveAxialAttention` layers (e.g.
  `['qkv', 'kernel']`, `['similarity_bn', 'gamma']`, `['query_rpe']`)
  whose shape is `shape`; None when deeplab2 has no such variable."""
  if len(path) == 1 and path[0] in _TABLES:
    return f'{prefix}/{_TABLES[path[0]]}/embeddings', _same
  if path == ['qkv', 'kernel']:
    return f'{prefix}/qkv_kernel', lambda w: w.reshape(shape)
  if len(path) != 2 or path[1] not in BATCH_NORM:
    return None
  norm = {'qkv_bn': '_batch_norm_qkv',
          'similarity_bn': '_batch_norm_similarity',
          'output_bn': '_batch_norm_retrieved_output'}.get(path[0])
  if norm is None:
    return None
  return f'{prefix}/{norm}/{path[1]}', lambda x: x.reshape(shape)


def block_source(prefix: str, path: List[str],
                 shape: Tuple[int, ...]) -> Source:
  """deeplab2's `AxialBlock` at `prefix` (e.g. `encoder/_stage4/_block2`)
  for a variable at `path` below one of our bottleneck blocks (e.g.
  `['reduce', 'kernel']`, `['attention', 'width', 'qkv_bn', 'beta']`);
  None when deeplab2's block has no such variable."""
  if len(path) >= 3 and path[0] == 'attention' and path[1] in _AXES:
    return attention_source(f'{prefix}/_attention/{_AXES[path[1]]}',
                            path[2:], shape)
  if not path:
    return None
  layer = path[0]
  if layer.endswith('_bn') and layer[:-3] in _BLOCK_LAYERS:
    return conv_bn_source(f'{prefix}/{_BLOCK_LAYERS[layer[:-3]]}',
                          ['bn'] + path[1:])
  if layer in _BLOCK_LAYERS:
    return conv_bn_source(f'{prefix}/{_BLOCK_LAYERS[layer]}', path[1:])
  return None
