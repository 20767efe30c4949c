"""Fixtures of the task tests: a tiny synthetic dataset and tiny params."""

import pytest

from axial_deeplab_tf import dataloaders


@pytest.fixture(scope='session')
def tiny_synthetic(tmp_path_factory):
  """16 train / 4 val synthetic images of 48 px; returns the file patterns."""
  folder = str(tmp_path_factory.mktemp('synthetic48'))
  return dataloaders.ensure_synthetic_dataset(
      folder, num_train=16, num_val=4, seed=1,
      config=dataloaders.SyntheticConfig(image_size=48))
