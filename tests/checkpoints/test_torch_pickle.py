"""The torch-free `.pth` reader, on files written by torch itself
(tests/fixtures/pytorch_axialnet, tools/make_pytorch_fixtures.py)."""

import gzip
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from axial_deeplab_tf.checkpoints import pytorch_axialnet
from axial_deeplab_tf.checkpoints import torch_pickle

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, 'fixtures',
                        'pytorch_axialnet')


def _path(name):
  return os.path.join(FIXTURES, name)


def test_zip_and_legacy_formats_hold_the_same_state():
  # tiny32.pth: a plain state dict, zip format. tiny32_legacy.pth: the same
  # tensors in the legacy format, as {'state_dict': {'module.' + key}}.
  plain = torch_pickle.read_pth(_path('tiny32.pth'))
  wrapped = torch_pickle.read_pth(_path('tiny32_legacy.pth'))
  assert list(wrapped) == ['state_dict']
  assert all(k.startswith('module.') for k in wrapped['state_dict'])
  legacy = pytorch_axialnet.read(_path('tiny32_legacy.pth'))
  assert list(legacy) == list(plain)
  for key, value in plain.items():
    assert legacy[key].dtype == value.dtype, key
    np.testing.assert_array_equal(legacy[key], value, err_msg=key)
  assert plain['bn1.num_batches_tracked'].dtype == np.int64
  assert plain['conv1.weight'].dtype == np.float32
  # The authors' trainer wraps as {'net': ..., 'epoch': ...}.
  authors = torch_pickle.read_pth(_path('tiny64.pth'))
  assert authors['epoch'] == 3 and 'module.fc.bias' in authors['net']


def test_flatten_index_buffer_matches_its_definition():
  # axialnet.py: flatten_index[i * K + j] = i - j + K - 1 (an int64 buffer
  # whose values depend on the strides the reader applies).
  state = pytorch_axialnet.read(_path('tiny64.pth'))
  index = state['layer1.0.hight_block.flatten_index']
  k = state['layer1.0.hight_block.relative'].shape[1] // 2 + 1
  i, j = np.meshgrid(np.arange(k), np.arange(k), indexing='ij')
  np.testing.assert_array_equal(index, (i - j + k - 1).reshape(-1))


@pytest.mark.parametrize('name', ['tiny32.pth', 'tiny32_legacy.pth'])
def test_truncated_files_are_clear_errors(tmp_path, name):
  data = open(_path(name), 'rb').read()
  for fraction in (0.3, 0.97):
    cut = tmp_path / f'cut{fraction}.pth'
    cut.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(torch_pickle.TorchFileError, match='truncated'):
      torch_pickle.read_pth(str(cut))


def test_other_files_are_refused(tmp_path):
  text = tmp_path / 'notes.pth'
  text.write_text('not a checkpoint')
  with pytest.raises(torch_pickle.TorchFileError, match='not a PyTorch'):
    torch_pickle.read_pth(str(text))
  # A pickle that names any other global (here os.getcwd) is not run.
  unsafe = tmp_path / 'unsafe.pth'
  with zipfile.ZipFile(unsafe, 'w') as archive:
    archive.writestr('unsafe/data.pkl', pickle.dumps(os.getcwd, protocol=2))
  with pytest.raises(torch_pickle.TorchFileError, match='refusing'):
    torch_pickle.read_pth(str(unsafe))
  with pytest.raises(torch_pickle.TorchFileError, match='no state dict'):
    manifest = tmp_path / 'list.pth'
    with zipfile.ZipFile(manifest, 'w') as archive:
      archive.writestr('x/data.pkl', pickle.dumps([1, 2], protocol=2))
    pytorch_axialnet.read(str(manifest))


def test_full_size_manifests_are_the_authors_models():
  # Parameter counts of the PyTorch models (README of the authors' repo:
  # Axial-ResNet-26-S 5.9M).
  with gzip.open(_path('full_state_dicts.json.gz'), 'rt') as f:
    full = json.load(f)
  assert sorted(full) == sorted(pytorch_axialnet.MODELS)
  assert round(full['axial26s']['parameters'] / 1e6, 1) == 5.9
  for name, model in pytorch_axialnet.MODELS.items():
    shapes = full[name]['state_dict']
    blocks, stem = pytorch_axialnet.describe(
        {k: np.broadcast_to(np.float32(0), s) for k, s in shapes.items()})
    assert blocks == model.stage_blocks and stem == int(64 * model.width)
