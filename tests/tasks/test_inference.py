"""Multi-scale + flip inference with a hand-written stand-in model."""

import numpy as np
import tensorflow as tf

from axial_deeplab_tf.tasks import inference

OFFSET = (2.0, 4.0)  # (dy, dx) the stand-in predicts at every pixel


def stand_in_model(images, training=False):
  """Maps at the input size: logits (x[..., 0], 0), heatmap x[..., 1:2],
  constant offsets `OFFSET` (in pixels of its input)."""
  del training
  logits = tf.stack([images[..., 0], tf.zeros_like(images[..., 0])], -1)
  offsets = tf.ones_like(images[..., :2]) * tf.constant(OFFSET)
  return {'semantic_logits': logits, 'center_heatmap': images[..., 1:2],
          'center_offsets': offsets}


def ramp_images(height, width):
  """[1, H, W, 3]: channel 0 and 1 grow along x (not mirror-symmetric)."""
  xs = np.tile(np.linspace(-1.0, 1.0, width, dtype=np.float32), (height, 1))
  return tf.constant(np.stack([xs, xs * 0.5 + 0.5, xs], -1)[None])


def log_softmax(logits):
  logits = logits - logits.max(-1, keepdims=True)
  return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def test_single_pass_returns_the_model_outputs():
  images = ramp_images(5, 7)
  out = inference.multi_scale_inference(stand_in_model, images)
  want = stand_in_model(images)
  for key, value in want.items():
    np.testing.assert_array_equal(out[key].numpy(), value.numpy())


def test_flip_mirrors_back_and_negates_dx():
  images = ramp_images(6, 9)
  out = inference.multi_scale_inference(stand_in_model, images, (1.0,),
                                        flip=True)
  want = stand_in_model(images)
  # Both passes see the ramp (one mirrored, then mirrored back): the maps
  # are the plain pass's; dx of the passes is +4 and -4, mean 0.
  np.testing.assert_allclose(out['center_heatmap'].numpy(),
                             want['center_heatmap'].numpy(), atol=1e-6)
  np.testing.assert_allclose(out['semantic_logits'].numpy(),
                             log_softmax(want['semantic_logits'].numpy()),
                             atol=1e-5)
  np.testing.assert_allclose(out['center_offsets'].numpy(),
                             np.broadcast_to([2.0, 0.0], (1, 6, 9, 2)))


def test_scaled_pass_rescales_offsets_per_axis():
  # 7 x 10 at scale 0.5 runs at round(3.5) = 4 x 5: offsets grow by the
  # factors 7 / 4 and 10 / 5 when brought back to 7 x 10.
  images = tf.ones([2, 7, 10, 3]) * 0.3
  out = inference.multi_scale_inference(stand_in_model, images, (0.5,))
  np.testing.assert_allclose(out['center_offsets'].numpy(),
                             np.broadcast_to([3.5, 8.0], (2, 7, 10, 2)),
                             rtol=1e-6)
  np.testing.assert_allclose(out['center_heatmap'].numpy(), 0.3, rtol=1e-6)
  assert out['semantic_logits'].shape == (2, 7, 10, 2)
  # Averaging two scales averages the rescaled offsets: (2 + 3.5) / 2 etc.
  both = inference.multi_scale_inference(stand_in_model, images, (1.0, 0.5))
  np.testing.assert_allclose(both['center_offsets'].numpy()[0, 0, 0],
                             [2.75, 6.0], rtol=1e-6)
