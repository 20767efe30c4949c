"""SavedModel export of the panoptic pipeline: parity, layout, fresh loads."""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from axial_deeplab_tf.data import normalization
from axial_deeplab_tf.data import schema
from axial_deeplab_tf.modeling import PanopticPostProcessor
from axial_deeplab_tf.modeling import folding
from axial_deeplab_tf.serving import panoptic_module
from axial_deeplab_tf.serving import preprocessing
from axial_deeplab_tf.serving import saved_model_export

import serving_models as sm

FLOAT_KEYS = ('center_heatmap', 'center_offsets', 'instance_scores',
              'center_scores', 'semantic_probabilities')
BIN = os.path.dirname(sys.executable)
# Network outputs of the fixture's model before folding (`exported`).
UNFOLDED = {}
# What the absl log filters did during the fixture's export.
EXPORT_LOG = {}
_SAVE = tf.saved_model.save


def _network(model, images):
  """The model's float outputs on uint8 images, in graph mode (as in the
  SavedModel); probabilities instead of logits."""
  fn = tf.function(lambda x: model(preprocessing.normalize(
      x, normalization.IMAGENET_MEAN, normalization.IMAGENET_STD),
                                   training=False))
  out = {k: v.numpy() for k, v in fn(tf.constant(images)).items()}
  out['semantic_probabilities'] = tf.nn.softmax(
      out.pop('semantic_logits')).numpy()
  return out


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  """(module, loaded SavedModel, version path), written once, of the
  folded model (as `train.export.build_export_module` folds it)."""
  model = sm.tiny_panoptic_model(seed=0)
  images = np.stack(images_of([(41, 37)] * 2, seed=9))
  UNFOLDED.update(images=images, outputs=_network(model, images))
  assert folding.fold_model(model) == 8  # 4 axial blocks x (height, width)
  module = panoptic_module.PanopticExportModule(
      model, sm.ENCODING, sm.OPTIONS, output_semantic_probabilities=True,
      output_instance_masks=True)
  base = str(tmp_path_factory.mktemp('panoptic_export'))
  before = list(logging.getLogger('absl').filters)
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(tf.saved_model, 'save', _recording_save)
    path = saved_model_export.export_saved_model(module, base)
  EXPORT_LOG.update(before=before,
                    after=list(logging.getLogger('absl').filters))
  return module, tf.saved_model.load(path), path


def _recording_save(*args, **kwargs):
  """tf.saved_model.save, first recording which of two absl records the
  filters installed at that moment let through (in EXPORT_LOG['seen'])."""
  filters = logging.getLogger('absl').filters
  EXPORT_LOG.setdefault('seen', []).append(
      [f.filter(logging.LogRecord('absl', logging.INFO, '', 0, msg, args_,
                                  None))
       for f in filters
       for msg, args_ in (
           ('Function `%s` contains input name(s) %s with unsupported '
            'characters which will be renamed to %s in the SavedModel.',
            ('serve', 'a, b', 'c, d')),
           ('Assets written to: %s', ('x',)))])
  return _SAVE(*args, **kwargs)


def reference(module, image):
  """Python model + PanopticPostProcessor on one uint8 [H, W, 3] image."""
  return reference_batch(module, image[np.newaxis])[0]


def reference_batch(module, images):
  """As `reference` for a uint8 [B, H, W, 3] batch: a list of B dicts.

  The model and post-processor run under one tf.function, as in the
  SavedModel: eager and graph execution (and batched versus single-image
  convolutions) may round the last float bit differently, which flips an
  argmax at a near-tie; `test_graph_reference_is_close_to_eager` bounds
  that difference.
  """
  return _reference_fn(module)(tf.constant(images))


_REFERENCE_FNS = {}


def _reference_fn(module):
  if id(module) not in _REFERENCE_FNS:
    _REFERENCE_FNS[id(module)] = tf.function(
        lambda images: _raw_reference(module, images),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
  fn = _REFERENCE_FNS[id(module)]
  return lambda images: _to_list(fn(images), len(images))


def _raw_reference(module, images):
  normalized = preprocessing.normalize(images, module.mean, module.std)
  raw = module.model(normalized, training=False)
  post = PanopticPostProcessor(sm.ENCODING, sm.OPTIONS)(raw)
  post = dict(post)
  post['semantic_logits'] = raw['semantic_logits']
  post['center_heatmap'] = raw['center_heatmap']
  post['center_offsets'] = raw['center_offsets']
  return post


def _to_list(post, batch):
  out = {k: v.numpy() for k, v in post.items()}
  out['center_heatmap'] = out['center_heatmap'][..., 0]
  out['semantic_probabilities'] = tf.nn.softmax(
      out.pop('semantic_logits')).numpy()
  out['num_instances'] = out['instance_valid'].sum(axis=1)
  return [{k: v[b] for k, v in out.items()} for b in range(batch)]


def images_of(sizes, seed=0):
  """Smooth random uint8 images (random colour blobs), one per size."""
  rng = np.random.RandomState(seed)
  images = []
  for height, width in sizes:
    small = rng.randint(0, 256, (height // 8 + 2, width // 8 + 2, 3))
    image = tf.image.resize(small[np.newaxis].astype(np.float32),
                            [height, width])[0]
    images.append(np.clip(image.numpy(), 0, 255).astype(np.uint8))
  return images


def assert_matches(actual, expected, height, width, where):
  """Compares one image's exported outputs (cropped) with the reference."""
  for key, value in expected.items():
    got = np.asarray(actual[key])
    if key == 'instance_masks':
      got = got[:, :height, :width]
    elif got.ndim >= 2 and key not in ('instance_classes', 'instance_scores',
                                       'instance_valid', 'center_points',
                                       'center_scores'):
      got = got[:height, :width]
    if key in FLOAT_KEYS:
      np.testing.assert_allclose(got, value, rtol=1e-4, atol=1e-5,
                                 err_msg=f'{where}: {key}')
    else:
      np.testing.assert_array_equal(got, value, err_msg=f'{where}: {key}')


def test_folded_export_matches_the_unfolded_model(exported):
  """The SavedModel of the folded model gives the unfolded model's network
  outputs, and its graph runs none of the attention's batch norms."""
  _, loaded, path = exported
  out = loaded.signatures['serving_default'](
      images=tf.constant(UNFOLDED['images']))
  for key, want in UNFOLDED['outputs'].items():
    got = out[key].numpy()  # the export drops the heatmap's channel axis
    want = want[..., 0] if key == 'center_heatmap' else want
    # Folding reorders float32 roundings: 1.1e-5 x max |value| measured
    # on the heatmap after the whole network.
    np.testing.assert_allclose(got, want, rtol=0,
                               atol=1e-4 * max(1.0, np.abs(want).max()),
                               err_msg=key)
  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(path, 'saved_model.pb'), 'rb') as f:
    proto.ParseFromString(f.read())
  graph = proto.meta_graphs[0]
  names = {node.name for f in graph.graph_def.library.function
           for node in f.node_def}
  assert any('attention' in n for n in names)
  assert not [n for n in names
              if any(bn in n for bn in ('qkv_bn', 'similarity_bn',
                                        'output_bn'))]


def test_reference_has_stuff_things_and_void(exported):
  # Guards against vacuous parity: the randomized model must produce
  # several classes and instances on the test images.
  module = exported[0]
  out = reference(module, images_of([(49, 49)])[0])
  classes = set(np.unique(out['category']))
  assert classes & set(sm.THING_CLASS_IDS), classes
  assert classes & {0, 1}, classes
  assert out['num_instances'] >= 2


def test_graph_reference_is_close_to_eager(exported):
  # The eager Python model gives the same outputs within float tolerance
  # (oneDNN fuses differently in graph mode) and the same argmax classes up
  # to rare near-tie pixels.
  module, _, _ = exported
  images = np.stack(images_of([(45, 38)] * 2, seed=21))
  graph = reference_batch(module, images)
  eager = _to_list({k: v for k, v in _raw_reference(module, images).items()},
                   2)
  for b in range(2):
    for key in ('semantic_probabilities', 'center_heatmap', 'center_offsets'):
      scale = max(1.0, float(np.abs(eager[b][key]).max()))
      np.testing.assert_allclose(graph[b][key], eager[b][key], rtol=0,
                                 atol=5e-4 * scale, err_msg=key)
    assert np.mean(graph[b]['semantic'] != eager[b]['semantic']) < 0.01


@pytest.mark.parametrize('batch,height,width', [(1, 33, 45), (3, 40, 50),
                                                (1, 65, 65)])
def test_serving_default_matches_python(exported, batch, height, width):
  module, loaded, _ = exported
  images = np.stack(images_of([(height, width)] * batch, seed=batch + height))
  out = loaded.signatures['serving_default'](images=tf.constant(images))
  out = {k: v.numpy() for k, v in out.items()}
  assert out['panoptic'].shape == (batch, height, width)
  assert out['instance_masks'].shape == (batch, 8, height, width)
  np.testing.assert_array_equal(out['image_size'], [[height, width]] * batch)
  expected = reference_batch(module, images)
  for b in range(batch):
    assert_matches({k: v[b] for k, v in out.items()}, expected[b], height,
                   width, f'image {b}')


def _check_mixed(module, out, images):
  max_h = max(i.shape[0] for i in images)
  max_w = max(i.shape[1] for i in images)
  assert out['panoptic'].shape == (len(images), max_h, max_w)
  void = sm.ENCODING.void_label
  for b, image in enumerate(images):
    height, width = image.shape[:2]
    np.testing.assert_array_equal(out['image_size'][b], [height, width])
    assert_matches({k: v[b] for k, v in out.items()}, reference(module, image),
                   height, width, f'image {b}')
    # Padding: void in label maps, zero elsewhere.
    pad_rows = out['panoptic'][b, height:]
    assert (pad_rows == void * sm.ENCODING.label_divisor).all()
    assert (out['semantic'][b, :, width:] == void).all()
    assert (out['instance'][b, height:] == 0).all()
    assert not out['instance_masks'][b, :, :, width:].any()


def test_image_bytes_mixed_sizes_match_each_image_alone(exported):
  module, loaded, _ = exported
  images = images_of([(33, 40), (48, 33), (65, 64)], seed=5)
  encoded = [schema.encode_png(images[0]),
             tf.io.encode_jpeg(images[1], quality=100).numpy(),
             schema.encode_png(images[2])]
  # The reference must see what the decoder sees (JPEG is lossy).
  images[1] = tf.io.decode_jpeg(encoded[1]).numpy()
  out = loaded.signatures['image_bytes'](image_bytes=tf.constant(encoded))
  _check_mixed(module, {k: v.numpy() for k, v in out.items()}, images)


def test_image_bytes_same_sizes_single_image(exported):
  module, loaded, _ = exported
  image = images_of([(37, 52)], seed=9)[0]
  out = loaded.signatures['image_bytes'](
      image_bytes=tf.constant([schema.encode_png(image)]))
  _check_mixed(module, {k: v.numpy() for k, v in out.items()}, [image])


def test_tf_example_mixed_sizes(exported):
  module, loaded, _ = exported
  images = images_of([(41, 35), (32, 57)], seed=11)
  examples = []
  for image in images:
    height, width = image.shape[:2]
    label = schema.encode_png(np.zeros([height, width, 3], np.uint8))
    examples.append(schema.make_panoptic_example(
        schema.encode_png(image), height, width, label, [], [], [], [],
        source_id='x').SerializeToString())
  out = loaded.signatures['tf_example'](
      serialized_examples=tf.constant(examples))
  _check_mixed(module, {k: v.numpy() for k, v in out.items()}, images)


def test_string_signatures_answer_an_empty_batch(exported):
  _, loaded, _ = exported
  k, top_k = sm.NUM_CLASSES, sm.OPTIONS.top_k
  maps = [0, 0, 0]  # batch 0; the largest height and width of no image: 0
  expected = {
      'panoptic': (maps, tf.int32), 'semantic': (maps, tf.int32),
      'category': (maps, tf.int32), 'instance': (maps, tf.int32),
      'center_heatmap': (maps, tf.float32),
      'center_offsets': (maps + [2], tf.float32),
      'semantic_probabilities': (maps + [k], tf.float32),
      'instance_masks': ([0, top_k, 0, 0], tf.bool),
      'instance_classes': ([0, top_k], tf.int32),
      'instance_scores': ([0, top_k], tf.float32),
      'instance_valid': ([0, top_k], tf.bool),
      'center_points': ([0, top_k, 2], tf.int32),
      'center_scores': ([0, top_k], tf.float32),
      'num_instances': ([0], tf.int32), 'image_size': ([0, 2], tf.int32)}
  for key, name in (('image_bytes', 'image_bytes'),
                    ('tf_example', 'serialized_examples')):
    out = loaded.signatures[key](**{name: tf.constant([], tf.string)})
    assert {k: (v.shape.as_list(), v.dtype) for k, v in out.items()} == (
        expected), key


def test_versions_follow_tf_serving_layout(exported, tmp_path):
  _, _, path = exported
  base = os.path.dirname(path)
  assert os.path.basename(path) == '1'
  assert os.path.isfile(os.path.join(path, 'saved_model.pb'))
  assert saved_model_export.next_version(base) == 2
  assert saved_model_export.next_version(str(tmp_path / 'missing')) == 1
  with pytest.raises(ValueError, match='already exists'):
    saved_model_export.export_saved_model(exported[0], base, version=1)
  assert not [n for n in os.listdir(base) if n.startswith('.tmp')]


def test_export_log_lists_no_captured_variables(exported):
  """TensorFlow logs each signature's captured variables as renamed inputs
  (one name per variable, ~300 for the demo model); export drops exactly
  that record (TensorFlow's format string, as signature_serialization.py
  logs it through absl) and nothing else, and only while it saves (the
  fixture's export recorded it)."""
  assert os.path.isfile(os.path.join(exported[2], 'saved_model.pb'))
  assert EXPORT_LOG['seen'] == [[False, True]]  # renaming dropped, others kept
  assert EXPORT_LOG['after'] == EXPORT_LOG['before']


def test_fresh_process_with_only_tensorflow(exported, tmp_path):
  module, _, path = exported
  image = images_of([(36, 44)], seed=3)[0]
  np.save(tmp_path / 'image.npy', image)
  script = (
      'import json, sys, numpy as np, tensorflow as tf\n'
      f'm = tf.saved_model.load({path!r})\n'
      f'x = np.load({str(tmp_path / "image.npy")!r})[None]\n'
      'out = m.signatures["serving_default"](images=tf.constant(x))\n'
      f'np.savez({str(tmp_path / "out.npz")!r}, '
      '**{k: v.numpy() for k, v in out.items()})\n'
      'print(json.dumps(sorted(m.signatures.keys())))\n'
      'print(any(n.startswith("axial_deeplab_tf") for n in sys.modules))\n')
  env = dict(os.environ, PYTHONPATH='', TF_CPP_MIN_LOG_LEVEL='3')
  result = subprocess.run([sys.executable, '-c', script], env=env,
                          cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=240, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.strip().splitlines()
  assert json.loads(lines[-2]) == ['image_bytes', 'serving_default',
                                   'tf_example']
  assert lines[-1] == 'False'
  out = dict(np.load(tmp_path / 'out.npz'))
  assert_matches({k: v[0] for k, v in out.items()}, reference(module, image),
                 36, 44, 'fresh process')


def test_saved_model_cli_show_and_run(exported, tmp_path):
  _, _, path = exported
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  cli = os.path.join(BIN, 'saved_model_cli')
  # `show --tag_set` reads the proto only (`--all` also loads the whole
  # model to list its functions); `run` below names the outputs.
  show = subprocess.run([cli, 'show', '--dir', path, '--tag_set', 'serve'],
                        env=env, capture_output=True, text=True, timeout=240,
                        check=False)
  assert show.returncode == 0, show.stderr[-3000:]
  for name in ('serving_default', 'image_bytes', 'tf_example'):
    assert f'SignatureDef key: "{name}"' in show.stdout, show.stdout
  # The same image twice: not a constant one, whose tied center scores
  # leave the instance numbering to float rounding.
  image = np.random.default_rng(0).integers(0, 256, (33, 41, 3), np.uint8)
  np.save(tmp_path / 'images.npy', np.stack([image, image]))
  run = subprocess.run(
      [cli, 'run', '--dir', path, '--tag_set', 'serve', '--signature_def',
       'serving_default', '--inputs', f'images={tmp_path / "images.npy"}',
       '--outdir', str(tmp_path / 'cli')], env=env, capture_output=True,
      text=True, timeout=240, check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  assert {'panoptic.npy', 'instance_masks.npy', 'image_size.npy'} <= set(
      os.listdir(tmp_path / 'cli'))
  panoptic = np.load(tmp_path / 'cli' / 'panoptic.npy')
  assert panoptic.shape == (2, 33, 41)
  np.testing.assert_array_equal(panoptic[0], panoptic[1])


def test_loose_post_processing_options_are_named():
  with pytest.raises(TypeError, match='options'):
    panoptic_module.PanopticExportModule(
        object(), sm.ENCODING, {'nms_size': 3})


def test_metadata_carries_encoding_and_options(exported):
  module = exported[0]
  metadata = module.export_metadata()
  assert metadata['num_classes'] == 5
  assert metadata['thing_class_ids'] == [2, 3, 4]
  assert metadata['post_processing'] == dict(
      center_threshold=0.1, nms_kernel=5, top_k=8, stuff_area_limit=16,
      label_divisor=1000, void_label=255)
