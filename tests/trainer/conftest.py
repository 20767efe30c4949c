"""Fixtures of the trainer tests."""

import pytest

from axial_deeplab_tf import dataloaders


@pytest.fixture(scope='session')
def synthetic48(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp('trainer_synthetic48'))
  return dataloaders.ensure_synthetic_dataset(
      folder, num_train=16, num_val=4, seed=2,
      config=dataloaders.SyntheticConfig(image_size=48))
