"""Checks shared by the importer tests (tests/checkpoints/test_*.py).

* `shapes_only(manifest)`: a foreign state of zeros from a name -> shape
  manifest (the architecture checks read shapes only).
* `assert_assign_fails(model, state, source, name, *fragments)`:
  `importer.assign` refuses `state` with an error naming every fragment;
  `with assigns_nothing(model):` around such calls checks that every
  variable of `model` is left as it was.
* `mapped_keys(ours, manifest, find)`: every variable of ours has its
  foreign tensor, of a shape that converts to ours; the keys used.
* `batch_norm_shapes`, `attention_shapes`: our variables of a batch norm
  and of an attention layer (name -> shape), for the tests' independent
  listings of an architecture.
"""

import contextlib

import numpy as np
import pytest

from axial_deeplab_tf.checkpoints import importer


def shapes_only(manifest):
  """{name: read-only zeros of that shape} for a name -> shape dict."""
  return {k: np.broadcast_to(np.float32(0), s) for k, s in manifest.items()}


def assert_assign_fails(model, state, source, name, *fragments):
  """`importer.assign(model, state, source, name, ...)` raises an
  `ImportCheckpointError` whose message holds every one of `fragments`."""
  with pytest.raises(importer.ImportCheckpointError) as error:
    importer.assign(model, state, source, name, 'ckpt')
  for fragment in fragments:
    assert fragment in str(error.value)


@contextlib.contextmanager
def assigns_nothing(model):
  """Checks that every variable of `model` is as it was before the
  block (failed imports leave nothing half-assigned)."""
  before = [v.numpy() for v in model.variables]
  yield
  for variable, value in zip(model.variables, before):
    np.testing.assert_array_equal(variable.numpy(), value)


def mapped_keys(ours, manifest, find):
  """Checks that each of our variables (`ours`, name -> shape) has its
  foreign tensor in `manifest` (key -> shape) through `find(name, shape)
  -> (key, convert)`, converted to its shape; returns the keys used."""
  used = set()
  for variable, shape in ours.items():
    key, convert = find(variable, shape)
    assert key in manifest, (variable, key)
    placeholder = np.broadcast_to(np.float32(0), manifest[key])
    assert convert(placeholder).shape == tuple(shape), (variable, key)
    used.add(key)
  return used


def batch_norm_shapes(name, shape):
  """Our batch norm `name`'s variables (name -> shape)."""
  return {f'{name}/{weight}': tuple(shape) for weight in
          ('gamma', 'beta', 'moving_mean', 'moving_variance')}


def attention_shapes(prefix, channels, key_depth, value_depth, heads, rows):
  """The variables (name -> shape) of one of our attention layers at
  `prefix` (`.../attention/height`): a 1x1 q/k/v projection of
  `channels` inputs, its batch norm, the similarity and output batch norms
  per head, and relative-position tables of `rows` rows."""
  qkv = 2 * key_depth + value_depth
  shapes = {f'{prefix}/qkv/kernel': (1, 1, channels, qkv),
            f'{prefix}/query_rpe': (rows, key_depth // heads),
            f'{prefix}/key_rpe': (rows, key_depth // heads),
            f'{prefix}/value_rpe': (rows, value_depth // heads)}
  shapes.update(batch_norm_shapes(f'{prefix}/qkv_bn', (qkv,)))
  shapes.update(batch_norm_shapes(f'{prefix}/similarity_bn', (3, heads)))
  shapes.update(batch_norm_shapes(f'{prefix}/output_bn',
                                  (2, heads, value_depth // heads)))
  return shapes
