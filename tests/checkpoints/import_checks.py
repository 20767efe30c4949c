"""Checks shared by the importer tests (tests/checkpoints/test_*.py).

* `shapes_only(manifest)`: a foreign state of zeros from a name -> shape
  manifest (the architecture checks read shapes only).
* `assert_assign_fails(model, state, source, name, *fragments)`:
  `importer.assign` refuses `state` with an error naming every fragment,
  and leaves every variable of `model` as it was.
* `mapped_keys(ours, manifest, find)`: every variable of ours has its
  foreign tensor, of a shape that converts to ours; the keys used.
"""

import numpy as np
import pytest

from axial_deeplab_tf.checkpoints import importer


def shapes_only(manifest):
  """{name: read-only zeros of that shape} for a name -> shape dict."""
  return {k: np.broadcast_to(np.float32(0), s) for k, s in manifest.items()}


def assert_assign_fails(model, state, source, name, *fragments):
  """`importer.assign(model, state, source, name, ...)` raises an
  `ImportCheckpointError` whose message holds every one of `fragments`,
  and assigns nothing."""
  before = [v.numpy() for v in model.variables]
  with pytest.raises(importer.ImportCheckpointError) as error:
    importer.assign(model, state, source, name, 'ckpt')
  for fragment in fragments:
    assert fragment in str(error.value)
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
