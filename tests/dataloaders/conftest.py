"""pytest setup for the dataloaders tests: quiet TF logging, helper imports.

The helpers (`dl_reference`, `dl_folders`) sit beside the tests; this
directory is put on sys.path so they import the same way whether or not
tests/ becomes a package.
"""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture
def rng():
  """A fixed-seed numpy generator."""
  return np.random.default_rng(1234)
