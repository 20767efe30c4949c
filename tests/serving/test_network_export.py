"""TFLite and ONNX export of the network, checked against TensorFlow."""

import os

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.serving import network_export

import serving_models as sm

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
KEYS = ('semantic_logits', 'center_heatmap', 'center_offsets')


@pytest.fixture(scope='module')
def model():
  return sm.tiny_panoptic_model(seed=1)


def _pixels(batch, height, width, seed=0):
  return np.random.RandomState(seed).uniform(
      0, 255, (batch, height, width, 3)).astype(np.float32)


def _tf_outputs(model, images):
  """The network in TensorFlow, run eagerly (`python_function`: no trace
  of its own; graph and eager outputs differ by ~1e-5 here, far inside
  the tolerance)."""
  return network_export.network_function(model, MEAN, STD).python_function(
      tf.constant(images))


def _assert_close(actual, expected, key, tolerance=2e-3):
  # XNNPACK / ONNX Runtime kernels round differently from TF: compare with
  # a tolerance relative to the output's spread.
  scale = max(1.0, float(np.abs(expected).max()))
  np.testing.assert_allclose(actual, expected, rtol=0,
                             atol=tolerance * scale, err_msg=key)


@pytest.mark.slow
def test_tflite_matches_tf_with_builtin_ops_only(model, tmp_path):
  path = str(tmp_path / 'panoptic.tflite')
  network_export.export_tflite(model, path, input_size=(49, 41), mean=MEAN,
                               std=STD)
  assert os.path.getsize(path) > 0
  interpreter = tf.lite.Interpreter(model_path=path)
  runner = interpreter.get_signature_runner('serving_default')
  images = _pixels(1, 49, 41)
  got = runner(images=images)
  expected = _tf_outputs(model, images)
  for key in KEYS:
    assert got[key].shape == tuple(expected[key].shape), key
    _assert_close(got[key], expected[key].numpy(), key)
  # The flatbuffer needs no Flex delegate: every op is a TFLite builtin.
  ops = {op['op_name'] for op in interpreter._get_ops_details()}  # pylint: disable=protected-access
  assert not [o for o in ops if o.startswith('Flex') or o == 'CUSTOM'], ops


def test_tflite_rejects_missing_size(model):
  with pytest.raises(ValueError, match='input_size'):
    network_export.export_tflite(model, None, input_size=None)


@pytest.mark.slow
def test_onnx_matches_tf_at_several_sizes(model, tmp_path, monkeypatch):
  onnxruntime = pytest.importorskip('onnxruntime')
  # tf2onnx deep-copies the whole graph before each of its ~36 optimizer
  # passes, to skip a pass that raises; not catching makes a failing pass
  # fail the test and saves a third of its time.
  monkeypatch.setenv('TF2ONNX_CATCH_ERRORS', 'false')
  path = str(tmp_path / 'panoptic.onnx')
  proto = network_export.export_onnx(model, path, mean=MEAN, std=STD)
  domains = {node.domain for node in proto.graph.node}
  assert domains <= {'', 'ai.onnx'}, domains          # no custom ops
  session = onnxruntime.InferenceSession(
      path, providers=['CPUExecutionProvider'])
  names = network_export.onnx_output_names(proto)
  for batch, height, width in ((2, 33, 45), (1, 65, 65)):
    images = _pixels(batch, height, width, seed=height)
    outputs = session.run(None, {session.get_inputs()[0].name: images})
    expected = _tf_outputs(model, images)
    got = {names[o.name]: v for o, v in zip(session.get_outputs(), outputs)}
    assert set(got) == set(KEYS)
    for key in KEYS:
      assert got[key].shape == tuple(expected[key].shape), key
      # ONNX Runtime differs from TF by up to 1.6e-4 x the spread here.
      _assert_close(got[key], expected[key].numpy(), key)
