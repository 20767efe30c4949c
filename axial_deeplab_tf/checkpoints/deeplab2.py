"""deeplab2's checkpoints as an import source (`--source=deeplab2`).

github:google-research/deeplab2. `MODELS` maps the name a checkpoint is
published under (a config stem for whole Cityscapes models) to our
experiment:

| `--model` | experiment | our backbone row |
|---|---|---|
| `max_deeplab_s_backbone_os16` | `deeplab2_max_deeplab_s_backbone_os16_cityscapes` | `deeplab2_max_deeplab_s_backbone` |
| `max_deeplab_s_backbone` (ImageNet encoder, no head) | the same, backbone only (`task.init_checkpoint`, `init_checkpoint_modules: backbone`) | `deeplab2_max_deeplab_s_backbone` |
| `axial_deeplab_s`, `axial_deeplab_l`, `axial_resnet_s`, `axial_resnet_l` (ImageNet encoders, no head) | `deeplab2_<name>_cityscapes`, backbone only | `deeplab2_<name>` |
| `axial_resnet50` (kMaX-DeepLab's pixel encoder "Axial-ResNet-50 (MaX-S w/ GeLU)", `maxs_gelu_imagenet_22k_1k_224`; no head) | `deeplab2_axial_resnet50_cityscapes`, backbone only | `deeplab2_axial_resnet50` |
| `axial_swidernet_1_1_{1,3,4.5}_os16` | `deeplab2_axial_swidernet_1_1_{1,3,4.5}_os16_cityscapes` | `axial_swidernet_1_1_{1,3,4.5}` (`wide_resnet`) |
| `max_deeplab_l_backbone_os16` | `deeplab2_max_deeplab_l_backbone_os16_cityscapes` | `axial_swidernet_1_1_1` (`wide_resnet`; its stacked decoder is `UNUSED`) |
| `axial_swidernet` (ImageNet encoder, Axial-SWideRNet-(1, 1, 1)) | `deeplab2_axial_swidernet_1_1_1_os16_cityscapes`, backbone only | `axial_swidernet_1_1_1` (`wide_resnet`) |
| `max_deeplab_l_backbone` (ImageNet encoder: Axial-SWideRNet-(1, 1, 1) plus the stacked decoder, no head) | `deeplab2_max_deeplab_l_backbone_os16_cityscapes`, backbone only (the stacked decoder is `UNUSED`) | `axial_swidernet_1_1_1`; with the decoder: row `max_deeplab_l_backbone` |

The wide ResNets' backbone variables come from `deeplab2_wide`
(`source_for(model)` picks the mapping of a model); `unused_for(model)`
says which tensors of a checkpoint no output of deeplab2's model reads
(the importer leaves them out and reports how many).

The file is read by `deeplab2_reader` (both of deeplab2's key layouts;
keys `encoder/...` and `<decoder item>/...`). Where each of our variables
comes from (`source(name, num_heads, shape)`, by variable name):

| ours | deeplab2 |
|---|---|
| `stem/conv<i>/conv`, `/bn` (i = 1, 2, 3) | `encoder/_stem/_conv1_bn_act`, `_conv2_bn_act`, `_conv3_bn` (`/_conv`, `/_batch_norm`) |
| `stem/conv7x7/conv`, `/bn` (`conv7x7` stem) | `encoder/_stem/_conv`, `/_batch_norm` (deeplab2's 'resnet' stem) |
| `stage<s>_block<b>/...` | `encoder/_stage<s + 1>/_block<b>/...` (`deeplab2_blocks.block_source`) |
| `<branch>_decoder/context` | `<branch>_decoder/_aspp/_proj_conv_bn_act` (the 1x1-only ASPP) |
| `<branch>_decoder/project_3`, `project_2` | `<branch>_decoder/_low_level_conv1`, `_low_level_conv2` |
| `<branch>_decoder/fuse_3`, `fuse_2` | `<branch>_decoder/_fusion_conv1`, `_fusion_conv2` (`/_conv1_bn_act`) |
| `semantic_head`, `center_head`, `offset_head` `/features` | `semantic_head_without_last_layer`, `instance_center_head_without_last_layer`, `instance_regression_head_without_last_layer` (`/_conv1_bn_act`) |
| `.../predict` (kernel, bias) | `semantic_last_layer`, `instance_center_head_last_layer`, `instance_regression_head_last_layer` |

A depthwise-separable conv of ours (`depthwise`, `depthwise_norm`,
`pointwise`, `pointwise_norm`) is deeplab2's `_depthwise/_depthwise_conv`,
`_depthwise/_batch_norm`, `_pointwise/_conv`, `_pointwise/_batch_norm`.
Every tensor keeps its layout (both are TF/Keras), except the attention's
`qkv_kernel` and term batch norms, which only change shape
(`deeplab2_blocks`).

deeplab2's whole model takes `uint8`-range images and scales them to
[-1, 1] itself; our experiments do it in the input pipeline (mean and std
0.5 of [0, 1] images). deeplab2 runs an input of size `k * 16 + 1` (its
Cityscapes crop 1025 x 2049) unpadded; ours pads any other size to that
form (`modeling.panoptic_deeplab`), where deeplab2's `Conv2DSame` and
ours sample the same pixels.
"""

import dataclasses
import re
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from axial_deeplab_tf.checkpoints import deeplab2_blocks
from axial_deeplab_tf.checkpoints import deeplab2_reader
from axial_deeplab_tf.checkpoints import deeplab2_wide
from axial_deeplab_tf.modeling.backbones import wide_variants

# The reader drops everything that holds no weights.
IGNORED_SUFFIXES = ()
FILE_ERRORS = (deeplab2_reader.Deeplab2FileError,)


@dataclasses.dataclass(frozen=True)
class Model:
  """One published deeplab2 model: what identifies its checkpoint, and our
  experiment.

  Attributes:
    stem: 'inception' (deeplab2's three 3x3 convs), 'conv7x7' (its
      'resnet' stem, one 7x7/2 conv) or 'conv3x3' (the wide ResNets' one
      3x3 conv).
    stem_channels: output channels of the stem's first conv.
    stage_blocks: blocks of deeplab2's `_stage2` .. `_stage5`.
    axial_beyond_stride: deeplab2's `use_axial_beyond_stride`.
    whole: True for a whole panoptic model (decoder and heads), False for
      an ImageNet encoder (no head in the file: imported as the backbone of
      `experiment`, for `task.init_checkpoint`).
    experiment: our registered experiment, or '' (recognised only).
    first_stage_blocks: blocks of `_stage1` (3 in the wide ResNets, whose
      backbone is `wide_resnet` and mapped by `deeplab2_wide`).
    stacked_decoder: the file holds MaX-DeepLab-L's stacked decoder
      (`encoder/_decoder_stage<i>...`).
    width_multiplier: deeplab2's `width_multiplier` (0.5 for the S
      models): `_stage2` outputs `4 * round(64 * width_multiplier)`
      channels.
  """
  stem: str
  stem_channels: int
  stage_blocks: Tuple[int, int, int, int]
  axial_beyond_stride: int
  whole: bool
  experiment: str = ''
  first_stage_blocks: int = 0
  stacked_decoder: bool = False
  width_multiplier: float = 1.0

  @property
  def backbone_only(self) -> bool:
    return not self.whole


# Models whose checkpoints are recognised (for "it looks like ..."); the
# ones with an experiment can be imported.
KNOWN = {
    'max_deeplab_s_backbone_os16': Model(
        'inception', 64, (3, 4, 6, 3), 16, True,
        'deeplab2_max_deeplab_s_backbone_os16_cityscapes'),
    'max_deeplab_s_backbone': Model(
        'inception', 64, (3, 4, 6, 3), 16, False,
        'deeplab2_max_deeplab_s_backbone_os16_cityscapes'),
    # kMaX-DeepLab's pixel encoder (model/pixel_encoder/axial_resnet.py):
    # the same tensors as max_deeplab_s_backbone, GeLU activations.
    'axial_resnet50': Model('inception', 64, (3, 4, 6, 3), 16, False,
                            'deeplab2_axial_resnet50_cityscapes'),
}
for _kind, _stem in (('axial_deeplab', 'inception'),
                     ('axial_resnet', 'conv7x7')):
  for _size, _width in (('s', 0.5), ('l', 1.0)):
    KNOWN[f'{_kind}_{_size}'] = Model(
        _stem, 64, (3, 4, 6, 3), 2, False,
        f'deeplab2_{_kind}_{_size}_cityscapes', width_multiplier=_width)
# deeplab2's wide ResNets (SWideRNet, Axial-SWideRNet): `deeplab2_wide`.
for _layers, _blocks in (('1', (3, 6, 3, 3)), ('3', (9, 18, 9, 9)),
                         ('4.5', (13, 27, 13, 13))):
  KNOWN[f'axial_swidernet_1_1_{_layers}_os16'] = Model(
      'conv3x3', 64, _blocks, 16, True,
      f'deeplab2_axial_swidernet_1_1_{_layers}_os16_cityscapes', 3)
KNOWN['max_deeplab_l_backbone_os16'] = Model(
    'conv3x3', 64, (3, 6, 3, 3), 16, True,
    'deeplab2_max_deeplab_l_backbone_os16_cityscapes', 3, True)
KNOWN['max_deeplab_l_backbone'] = Model(
    'conv3x3', 64, (3, 6, 3, 3), 16, False,
    'deeplab2_max_deeplab_l_backbone_os16_cityscapes', 3, True)
KNOWN['swidernet'] = Model('conv3x3', 64, (3, 6, 3, 3), 0, False, '', 3)
KNOWN['axial_swidernet'] = Model(
    'conv3x3', 64, (3, 6, 3, 3), 16, False,
    'deeplab2_axial_swidernet_1_1_1_os16_cityscapes', 3)
# deeplab2 names every Axial-SWideRNet encoder `axial_swidernet` (the layer
# multiplier is a separate setting); the deeper ImageNet files go by the
# name of their download.
for _layers, _blocks in (('3', (9, 18, 9, 9)), ('4.5', (13, 27, 13, 13))):
  KNOWN[f'axial_swidernet_1_1_{_layers}'] = Model(
      'conv3x3', 64, _blocks, 16, False,
      f'deeplab2_axial_swidernet_1_1_{_layers}_os16_cityscapes', 3)
MODELS = {name: m for name, m in KNOWN.items() if m.experiment}

read = deeplab2_reader.read


def _first_axial_block(state):
  """(stage, block) of the first axial block in `state`, or None."""
  found = sorted((int(m[1]), int(m[2])) for k in state
                 for m in [re.match(r'encoder/_stage(\d)/_block(\d+)/'
                                    r'_attention/', k)] if m)
  return found[0] if found else None


def _first_stage_channels(state):
  """Output channels of `_stage2` (its first block's last conv), or 0."""
  for conv in ('_conv3_bn', '_conv2_bn'):  # bottleneck, basic block
    kernel = state.get(f'encoder/_stage2/_block1/{conv}/_conv/kernel')
    if kernel is not None:
      return int(kernel.shape[-1])
  return 0


def describe(state) -> Tuple:
  """What identifies a checkpoint: (stem kind, stem channels, blocks per
  stage 1..5, first axial block, whole model, stacked decoder,
  `_stage2`'s output channels)."""
  kernel = state.get('encoder/_stem/_conv1_bn_act/_conv/kernel',
                     state.get('encoder/_stem/_conv/kernel'))
  stem = ('inception' if 'encoder/_stem/_conv1_bn_act/_conv/kernel' in state
          else 'none' if kernel is None
          else f'conv{kernel.shape[0]}x{kernel.shape[1]}')
  channels = int(kernel.shape[-1]) if kernel is not None else 0
  blocks = tuple(len({m[1] for k in state
                      for m in [re.match(rf'encoder/_stage{s}/_block(\d+)/',
                                         k)] if m})
                 for s in range(1, 6))
  whole = any(k.startswith('semantic_') for k in state)
  stacked = any(k.startswith('encoder/_decoder_stage') for k in state)
  return (stem, channels, blocks, _first_axial_block(state), whole, stacked,
          _first_stage_channels(state))


def _expected(model: Model, stem_channels=None, stage_blocks=None,
              width_multiplier=None):
  """`describe`'s value for a checkpoint of `model` (optionally reduced)."""
  blocks = tuple(stage_blocks or model.stage_blocks)
  first_axial = None
  for stage, count in enumerate(blocks):
    for index in range(count):
      nominal = 2**(stage + 1) if index == 0 else 2**(stage + 2)
      if (model.axial_beyond_stride and first_axial is None and
          nominal >= model.axial_beyond_stride):
        first_axial = (stage + 2, index + 1)
  width = width_multiplier or model.width_multiplier
  return (model.stem, stem_channels or model.stem_channels,
          (model.first_stage_blocks,) + blocks, first_axial, model.whole,
          model.stacked_decoder, 4 * int(round(64 * width)))


def looks_like(state) -> str:
  """Which deeplab2 model a checkpoint looks like, in words."""
  found = describe(state)
  stem, channels, blocks, first_axial, whole, stacked, width = found
  what = (f'{"whole model" if whole else "encoder"}, {stem} stem of '
          f'{channels} channels, blocks per stage {list(blocks[1:])}'
          f'{" plus a stride-2 stage" if blocks[0] else ""}, first axial '
          f'block {first_axial}{", stacked decoder" if stacked else ""}')
  names = [n for n, m in KNOWN.items() if _expected(m) == found]
  if names:
    return f'{" or ".join(names)} ({what}), {width} channels out of _stage2'
  return (f'none of {sorted(KNOWN)} ({what}), {width} channels out of '
          f'_stage2')


def check_architecture(state, name, variant) -> Optional[str]:
  """None, or why `state` is not a checkpoint of model `name` built with
  our backbone row `variant` (its depth and stem width may be reduced)."""
  model = KNOWN[name]
  if isinstance(variant, wide_variants.WideVariant):
    stem = int(round(64 * variant.stem_width_multiplier))
    blocks = tuple(int(b * variant.layer_multiplier)
                   for b in variant.stage_blocks)
  else:
    stem = variant.stem_width or int(round(64 * variant.width_multiplier))
    blocks = variant.stage_blocks
  if describe(state) != _expected(model, stem, blocks,
                                  variant.width_multiplier):
    return (f'it is not a checkpoint of {name}: it looks like '
            f'{looks_like(state)}')
  return None


def _same(x):
  return x


_STEM = {'conv1': '_conv1_bn_act', 'conv2': '_conv2_bn_act',
         'conv3': '_conv3_bn'}
_LOW_LEVEL = {'3': '1', '2': '2'}  # our feature key -> deeplab2's index
_HEADS = {'semantic_head': 'semantic', 'center_head': 'instance_center',
          'offset_head': 'instance_regression'}


def _separable_source(prefix, path):
  """Our separable conv (`path` below it) -> deeplab2's at `prefix`."""
  if path == ['depthwise', 'depthwise_kernel']:
    return f'{prefix}/_depthwise/_depthwise_conv/depthwise_kernel', _same
  if path == ['pointwise', 'kernel']:
    return f'{prefix}/_pointwise/_conv/kernel', _same
  if len(path) == 2 and path[0] in ('depthwise_norm', 'pointwise_norm'):
    part = path[0][:-len('_norm')]
    return deeplab2_blocks.conv_bn_source(f'{prefix}/_{part}',
                                          ['bn', path[1]])
  return None


def _conv_norm_source(prefix, path):
  """Our `ConvNormReLU` (`conv/kernel`, `norm/<weight>` below it) ->
  deeplab2's `Conv2DSame` at `prefix`."""
  if path == ['conv', 'kernel']:
    return deeplab2_blocks.conv_bn_source(prefix, ['kernel'])
  if path[:1] == ['norm']:
    return deeplab2_blocks.conv_bn_source(prefix, ['bn'] + path[1:])
  return None


def _decoder_source(branch, path):
  prefix = f'{branch}_decoder'
  if path[:1] == ['context']:
    return _conv_norm_source(f'{prefix}/_aspp/_proj_conv_bn_act', path[1:])
  layer = re.fullmatch(r'(project|fuse)_(\d)', path[0]) if path else None
  if not layer or layer[2] not in _LOW_LEVEL:
    return None
  index = _LOW_LEVEL[layer[2]]
  if layer[1] == 'fuse':
    return _separable_source(f'{prefix}/_fusion_conv{index}/_conv1_bn_act',
                             path[1:])
  return _conv_norm_source(f'{prefix}/_low_level_conv{index}', path[1:])


def _head_source(head, path):
  if path[:1] == ['features']:
    return _separable_source(f'{head}_head_without_last_layer/_conv1_bn_act',
                             path[1:])
  if path[:1] == ['predict'] and path[1:] in (['kernel'], ['bias']):
    last = ('semantic_last_layer' if head == 'semantic'
            else f'{head}_head_last_layer')
    return f'{last}/{path[1]}', _same
  return None


def source(name: str, num_heads: int, shape: Optional[Tuple[int, ...]] = None
           ) -> Optional[Tuple[str, Callable[[np.ndarray], np.ndarray]]]:
  """The deeplab2 key (as `deeplab2_reader` returns it) of our variable
  `name` and the function that converts that tensor to our layout (see the
  module docstring); None when `name` has no deeplab2 counterpart.

  Args:
    name: a variable name (`stage3_block2/attention/height/qkv/kernel:0`,
      `axial_deeplab/semantic_decoder/context/conv/kernel:0`; any scope
      before `stem/`, `stage<s>_block<b>/`, a decoder or a head is
      ignored).
    num_heads: attention heads (unused: deeplab2's layout needs no head
      permutation).
    shape: the variable's shape.
  """
  del num_heads
  parts = re.sub(r':\d+$', '', name).split('/')
  for i, part in enumerate(parts):
    path = parts[i + 1:]
    block = re.fullmatch(r'stage(\d)_block(\d+)', part)
    if block:
      return deeplab2_blocks.block_source(
          f'encoder/_stage{int(block[1]) + 1}/_block{block[2]}', path,
          tuple(shape or ()))
    if part == 'stem' and path[:1] == ['conv7x7']:
      return deeplab2_blocks.conv_bn_source(
          'encoder/_stem', ['kernel'] if path[1:] == ['conv', 'kernel']
          else path[1:])
    if part == 'stem' and path and path[0] in _STEM:
      return deeplab2_blocks.conv_bn_source(
          f'encoder/_stem/{_STEM[path[0]]}',
          ['kernel'] if path[1:] == ['conv', 'kernel'] else path[1:])
    if part in ('semantic_decoder', 'instance_decoder'):
      return _decoder_source(part[:-len('_decoder')], path)
    if part in _HEADS:
      return _head_source(_HEADS[part], path)
  return None



def _wide_source(name, num_heads, shape=None):
  """`source` for a model with a `wide_resnet` backbone: its backbone
  variables from `deeplab2_wide`, the decoders and heads as above."""
  if deeplab2_wide.in_backbone(name):
    return deeplab2_wide.source(name, num_heads, shape)
  return source(name, num_heads, shape)


# Tensors that deeplab2's model computes with but no output of it reads,
# by model: MaX-DeepLab-L's stacked decoder (`_decoder_stage<i>...`) feeds
# only the classification endpoint `backbone_output`, which Panoptic-DeepLab
# does not use (its decoders read res2, res3, res5), so the imported model
# leaves it out and the importer reports these tensors as unused. (A model
# built with row `max_deeplab_l_backbone` has the decoder, and
# `importer.assign` fills it from them.)
UNUSED = {name: re.compile(r'^encoder/_decoder_stage\d+') for name in (
    'max_deeplab_l_backbone_os16', 'max_deeplab_l_backbone')}


def unused_for(model: str):
  """A predicate on keys of tensors of `model` that no output reads."""
  pattern = UNUSED.get(model)
  return (lambda key: bool(pattern.match(key))) if pattern else (
      lambda key: False)


def source_for(model: str):
  """The `source` function of deeplab2 model `model` (a name of `KNOWN`)."""
  return _wide_source if KNOWN[model].first_stage_blocks else source
