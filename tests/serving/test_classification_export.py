"""SavedModel export of a classifier: logits and top-k against Python."""

import numpy as np
import tensorflow as tf

from axial_deeplab_tf.dataloaders import classification_input
from axial_deeplab_tf.data import schema
from axial_deeplab_tf.serving import classification_module
from axial_deeplab_tf.serving import preprocessing
from axial_deeplab_tf.serving import saved_model_export

import serving_models as sm


def test_classifier_signatures_match_python(tmp_path):
  model = sm.tiny_classifier(num_classes=7, seed=3)
  module = classification_module.ClassificationExportModule(
      model, image_size=32, top_k=3)
  path = saved_model_export.export_saved_model(module, str(tmp_path))
  loaded = tf.saved_model.load(path)
  rng = np.random.RandomState(0)
  images = [rng.randint(0, 256, (40, 52, 3)).astype(np.uint8),
            rng.randint(0, 256, (33, 33, 3)).astype(np.uint8)]

  def expected(image):
    crop = classification_input.center_crop(image, 32, 0.875)
    x = preprocessing.normalize(crop, module.mean, module.std)[tf.newaxis]
    return model(x, training=False).numpy()[0]

  reference = np.stack([expected(i) for i in images])
  # Eager (the reference) and the SavedModel graph round differently:
  # compare with a tolerance relative to the logits' range (up to 1.7e-5 x
  # range seen on the tiny classifiers of seeds 3-5).
  atol = 1e-4 * max(1.0, float(np.abs(reference).max()))
  dense = loaded.signatures['serving_default'](
      images=tf.constant(images[0][np.newaxis]))
  np.testing.assert_allclose(dense['logits'].numpy()[0], reference[0],
                             rtol=1e-4, atol=atol)
  encoded = tf.constant([schema.encode_png(i) for i in images])
  out = loaded.signatures['image_bytes'](image_bytes=encoded)
  np.testing.assert_allclose(out['logits'].numpy(), reference, rtol=1e-4,
                             atol=atol)
  order = np.argsort(-out['logits'].numpy(), axis=1, kind='stable')[:, :3]
  np.testing.assert_array_equal(out['top_k_classes'].numpy(), order)
  probabilities = out['probabilities'].numpy()
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(
      out['top_k_scores'].numpy(),
      np.take_along_axis(probabilities, order, axis=1), rtol=1e-6)
  examples = tf.constant([schema.make_classification_example(
      schema.encode_png(i), label=1).SerializeToString() for i in images])
  from_examples = loaded.signatures['tf_example'](serialized_examples=examples)
  np.testing.assert_allclose(from_examples['logits'].numpy(), reference,
                             rtol=1e-4, atol=atol)
  assert saved_model_export.read_metadata(path)['task'] == 'classification'
  for key, name in (('image_bytes', 'image_bytes'),
                    ('tf_example', 'serialized_examples')):
    empty = loaded.signatures[key](**{name: tf.constant([], tf.string)})
    assert {k: (v.shape.as_list(), v.dtype) for k, v in empty.items()} == {
        'logits': ([0, 7], tf.float32), 'probabilities': ([0, 7], tf.float32),
        'top_k_classes': ([0, 3], tf.int32),
        'top_k_scores': ([0, 3], tf.float32)}, key
