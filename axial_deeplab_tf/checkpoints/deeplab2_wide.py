"""deeplab2's wide-ResNet checkpoints (SWideRNet) onto our `WideResNet`.

deeplab2 (github:google-research/deeplab2) saves its encoder under
`encoder/`; the object paths of a wide-ResNet encoder are

    _stem/_conv/kernel, _stem/_batch_norm/{gamma,beta,moving_mean,...}
    _stage<s>/_block<b>/<conv>/_conv/kernel, .../<conv>/_batch_norm/...

with `<conv>` one of `_conv1_bn_act`, `_conv2_bn` (a basic block's last
conv), `_conv2_bn_act`, `_conv3_bn` (a bottleneck's) and `_shortcut`.
Ours (`modeling.backbones.wide_resnet`) are `stem/{conv,bn}/...` and
`stage<s>_block<b>/conv<k>/{conv,bn}/...`. Conv kernels have the same
layout (HWIO) in both and map unchanged.

MaX-DeepLab-L's stacked decoder (`modeling.backbones.stacked_decoder`):
our `decoder_stage<i>_block<b>/...` is deeplab2's
`encoder/_decoder_stage<i>/_block<b>/...` (basic blocks, `_conv2_bn`, or
axial ones: the variant allows no other), our
`decoder_stage<i>_fuse/strided<k>` and `resized<k>` (`/conv`, `/bn`) are
`encoder/_decoder_stage<i>_resized_fuse/_strided_conv_bn<k>` and
`_resized_conv_bn<k>` (`/_conv`, `/_batch_norm`).

`source(name, num_heads, shape)` gives the deeplab2 key (as
`deeplab2_reader` returns it) of one of our backbone variables and the
function that converts that tensor to our layout, or None for a variable
outside the backbone; the same signature as `deeplab2.source`. A stage-5
(not decoder) block is a bottleneck (its `conv2` is deeplab2's
`_conv2_bn_act`), the others are basic blocks (`_conv2_bn`); axial blocks
(`_attention/_height_axis`, `_width_axis`) use `deeplab2_blocks`' mapping
of deeplab2's axial attention.
"""

import re
from typing import Callable, Optional, Tuple

import numpy as np

from axial_deeplab_tf.checkpoints import deeplab2_blocks

Source = Optional[Tuple[str, Callable[[np.ndarray], np.ndarray]]]
_NAME = re.compile(
    r'^(?:.*/)?(?:(stem)|(?:stage(\d)|(decoder_stage\d+))_block(\d+)/'
    r'(conv\d|shortcut|attention)|(decoder_stage\d+)_fuse/'
    r'(strided|resized)(\d+))/(.+?)(?::\d+)?$')
_BOTTLENECK_STAGE = '5'


def _conv_path(rest):
  """Our `conv/kernel` or `bn/<weight>` below a `ConvNorm` as
  `deeplab2_blocks.conv_bn_source` takes it."""
  path = rest.split('/')
  return ['kernel'] if path == ['conv', 'kernel'] else path


def in_backbone(name: str) -> bool:
  """Whether `name` is a variable of our wide-ResNet backbone."""
  return _NAME.match(name) is not None


def source(name: str, num_heads: Optional[int] = None,
           shape: Optional[Tuple[int, ...]] = None) -> Source:
  """(deeplab2 key, conversion) of our wide-ResNet variable `name` (any
  scope before `stem/` or `stage<s>_block<b>/` is ignored), or None when
  it is not one (see the module docstring).

  Args:
    name: e.g. `stage4_block2/attention/height/qkv/kernel:0`.
    num_heads: unused (deeplab2's attention layout needs no head
      permutation).
    shape: the variable's shape.
  """
  del num_heads
  match = _NAME.match(name)
  if not match:
    return None
  (stem, stage, decoder, block, layer, fuse, kind, index,
   rest) = match.groups()
  if stem:
    return deeplab2_blocks.conv_bn_source('encoder/_stem', _conv_path(rest))
  if fuse:
    return deeplab2_blocks.conv_bn_source(
        f'encoder/_{fuse}_resized_fuse/_{kind}_conv_bn{index}',
        _conv_path(rest))
  prefix = (f'encoder/_{decoder}/_block{block}' if decoder
            else f'encoder/_stage{stage}/_block{block}')
  if layer == 'attention':
    return deeplab2_blocks.block_source(
        prefix, ['attention'] + rest.split('/'), tuple(shape or ()))
  if layer == 'shortcut':
    deeplab2_layer = '_shortcut'
  elif layer == 'conv1' or (layer == 'conv2' and stage == _BOTTLENECK_STAGE):
    deeplab2_layer = f'_{layer}_bn_act'
  else:
    deeplab2_layer = f'_{layer}_bn'
  return deeplab2_blocks.conv_bn_source(f'{prefix}/{deeplab2_layer}',
                                        _conv_path(rest))
