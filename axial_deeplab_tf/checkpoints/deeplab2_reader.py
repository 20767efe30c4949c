"""Reads a deeplab2 TF2 checkpoint into numpy arrays, without deeplab2.

deeplab2 checkpoints come in the two layouts deeplab2 itself restores
from (its `trainer/train_lib.py` and `trainer/runner_utils.py`):

* `'deeplab2'`: its trainer's `tf.train.Checkpoint(global_step=...,
  **model.checkpoint_items, optimizer=...)`, whose roots are `encoder`
  and the decoder's checkpoint items (`semantic_decoder`,
  `semantic_head_without_last_layer`, `semantic_last_layer`,
  `instance_decoder`, `instance_center_head_without_last_layer`, ...);
* `'model_garden'`: the Model Garden vision trainer's, whose encoder is
  at `backbone/_encoder/...` (deeplab2's ImageNet checkpoints).

`read(path)` returns `{key: np.ndarray}` for the model's variables. A key
is the variable's object path with the layout prefix and the trailing
`/.ATTRIBUTES/VARIABLE_VALUE` removed, the same in both layouts:

* `encoder/<path in deeplab2's encoder>` for the backbone, e.g.
  `encoder/_stage4/_block2/_attention/_height_axis/qkv_kernel` (the Model
  Garden layout's `backbone/_encoder/` prefix is replaced by `encoder/`);
* `<checkpoint item>/<path in that item>` for the decoder and heads, e.g.
  `semantic_decoder/_aspp/_proj_conv_bn_act/_conv/kernel` or
  `semantic_last_layer/kernel`;
* any other variable of a Model Garden file (a classification head, say)
  under its own object path, so that an importer reports it rather than
  losing it silently.

Not model weights, so dropped: `global_step`, `save_counter`, the
optimizers (`optimizer/...`, `backbone_optimizer/...`, including the Keras
optimizers' `_variables/<n>` and `_iterations`) and the slot variables
that older optimizers attach below a weight (`.../.OPTIMIZER_SLOT/...`).

`path` is a checkpoint prefix (`.../ckpt-60000`) or a folder (its latest
checkpoint). A missing, truncated or corrupt file, or one in neither
layout, is a `Deeplab2FileError`.
"""

from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

LAYOUTS = ('deeplab2', 'model_garden')
_SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE'
_GARDEN_ENCODER = 'backbone/_encoder/'
_DROPPED_ROOTS = ('global_step', 'save_counter', 'optimizer',
                  'backbone_optimizer', '_CHECKPOINTABLE_OBJECT_GRAPH')


class Deeplab2FileError(ValueError):
  """A file that is not a readable deeplab2 checkpoint (missing,
  truncated, corrupt, or in neither of deeplab2's layouts)."""


def checkpoint_prefix(path) -> str:
  """The checkpoint prefix of `path` (a prefix, or a folder holding a
  `checkpoint` file)."""
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is None:
      raise Deeplab2FileError(f'{path} is a folder without a checkpoint.')
    return latest
  if not tf.io.gfile.exists(path + '.index'):
    raise Deeplab2FileError(f'{path}: no such checkpoint ({path}.index '
                            f'does not exist).')
  return path


def _kept(name):
  root = name.split('/', 1)[0]
  return (root not in _DROPPED_ROOTS and name.endswith(_SUFFIX)
          and '/.OPTIMIZER_SLOT/' not in name)


def detect_layout(names) -> str:
  """'deeplab2' or 'model_garden' for checkpoint variable `names`."""
  if any(n.startswith(_GARDEN_ENCODER) for n in names):
    return 'model_garden'
  if any(n.startswith('encoder/') for n in names):
    return 'deeplab2'
  roots = sorted({n.split('/', 1)[0] for n in names if _kept(n)})
  raise Deeplab2FileError(
      f'is not a deeplab2 checkpoint: no encoder/ (deeplab2 trainer) or '
      f'backbone/_encoder/ (Model Garden) variables; its roots are '
      f'{roots or "none"}.')


def _key(name, layout):
  key = name[:-len(_SUFFIX)]
  if layout == 'model_garden' and key.startswith(_GARDEN_ENCODER):
    key = 'encoder/' + key[len(_GARDEN_ENCODER):]
  return key


def read_with_layout(path) -> Tuple[str, Dict[str, np.ndarray]]:
  """(layout, {key: array}) of the checkpoint at `path`; see the module
  docstring."""
  prefix = checkpoint_prefix(path)
  try:
    reader = tf.train.load_checkpoint(prefix)
    names = sorted(reader.get_variable_to_shape_map())
    layout = detect_layout(names)
    state = {_key(n, layout): np.asarray(reader.get_tensor(n))
             for n in names if _kept(n)}
  except (tf.errors.OpError, ValueError, IndexError) as e:
    if isinstance(e, Deeplab2FileError):
      raise Deeplab2FileError(f'{prefix} {e}') from None
    detail = getattr(e, 'message', None) or str(e)
    raise Deeplab2FileError(
        f'{prefix} cannot be read as a TF checkpoint (truncated or '
        f'corrupt?): {detail.splitlines()[0] if detail else type(e).__name__}'
    ) from None
  return layout, state


def read(path) -> Dict[str, np.ndarray]:
  """{key: array} of the checkpoint at `path`; see the module docstring."""
  return read_with_layout(path)[1]

