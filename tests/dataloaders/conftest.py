"""pytest setup for the dataloaders tests: quiet TF logging."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture
def rng():
  """A fixed-seed numpy generator."""
  return np.random.default_rng(1234)
