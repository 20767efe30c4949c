"""pytest setup for the dataloaders tests: quiet TF logging, a seeded rng.

The helpers (`dl_reference`, `dl_folders`) sit beside the tests, and
pytest's default (prepend) import mode puts this folder on the path.
"""

import os

import numpy as np
import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


@pytest.fixture
def rng():
  """A fixed-seed numpy generator."""
  return np.random.default_rng(1234)
