"""Each step of the panoptic merge on hand-built batched inputs."""

import numpy as np
import tensorflow as tf

from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.ops import panoptic_merge as pm
from axial_deeplab_tf.ops.post_processing_options import PostProcessingOptions


def test_semantic_prediction_is_softmax_and_argmax():
  logits = np.array([[[[0.0, 2.0, 1.0], [3.0, 0.0, 3.0]]]], np.float16)
  probs, semantic = pm.semantic_prediction(logits)
  e = np.exp(logits.astype(np.float64))
  np.testing.assert_allclose(probs.numpy(), e / e.sum(-1, keepdims=True),
                             rtol=1e-6)
  assert probs.dtype == tf.float32
  np.testing.assert_array_equal(semantic.numpy(), [[[1, 0]]])  # tie: lowest


def test_find_centers_nms_threshold_top_k_and_padding():
  heat = np.zeros((2, 5, 6, 1), np.float32)
  heat[0, 1, 1], heat[0, 1, 2] = 0.9, 0.5  # 0.5 suppressed by 3x3 NMS
  heat[0, 4, 5], heat[0, 3, 0] = 0.6, 0.15  # 0.15 below the threshold
  heat[1, 2, 3] = 0.3
  scores, points, valid = pm.find_centers(
      heat, PostProcessingOptions(center_threshold=0.2, nms_kernel=3,
                                  top_k=3))
  np.testing.assert_allclose(scores.numpy(), [[0.9, 0.6, 0], [0.3, 0, 0]])
  np.testing.assert_array_equal(points.numpy(), [
      [[1, 1], [4, 5], [0, 0]], [[2, 3], [0, 0], [0, 0]]])
  np.testing.assert_array_equal(valid.numpy(), [[1, 1, 0], [1, 0, 0]])
  # A 2x2 image with more slots than pixels: every pixel is its own peak.
  tiny = np.array([[[[0.5], [0.7]], [[0.2], [0.4]]]], np.float32)
  scores, points, valid = pm.find_centers(
      tiny, PostProcessingOptions(center_threshold=0.0, nms_kernel=1,
                                  top_k=6))
  np.testing.assert_allclose(scores.numpy()[0], [0.7, 0.5, 0.4, 0.2, 0, 0])
  np.testing.assert_array_equal(points.numpy()[0, :4],
                                [[0, 1], [0, 0], [1, 1], [1, 0]])
  np.testing.assert_array_equal(valid.numpy()[0], [1, 1, 1, 1, 0, 0])


def test_group_pixels_nearest_valid_center_ties_to_first():
  # Image 0: centers (0, 0), (0, 4), and an invalid slot at (0, 2).
  points = np.array([[[0, 0], [0, 4], [0, 2]], [[0, 0]] * 3], np.int32)
  valid = np.array([[1, 1, 0], [0, 0, 0]], bool)
  off = np.zeros((2, 1, 5, 2), np.float32)
  off[0, 0, 4] = (0.0, -2.0)  # x = 4 points at x = 2: tie -> first center
  off[0, 0, 1] = (0.0, 1.4)  # x = 1 points at x = 2.4: nearer to x = 4
  got = pm.group_pixels(off, points, valid).numpy()
  np.testing.assert_array_equal(got[0], [[1, 2, 1, 2, 1]])
  np.testing.assert_array_equal(got[1], 0)  # no valid center


def test_thing_pixels():
  enc = PanopticEncoding(4, (1, 3), label_divisor=10)
  got = pm.thing_pixels(tf.constant([[[0, 1], [2, 3]]]), enc)
  np.testing.assert_array_equal(got.numpy(), [[[0, 1], [0, 1]]])


def test_vote_instance_classes_majority_ties_and_empty_slots():
  semantic = np.array([[[2, 2, 1, 1, 1, 0],
                        [3, 1, 3, 0, 0, 0]]], np.int32)
  instance = np.array([[[1, 1, 1, 1, 1, 0],
                        [2, 2, 4, 0, 0, 0]]], np.int32)
  center_valid = np.array([[1, 1, 1, 0]], bool)
  classes, areas = pm.vote_instance_classes(semantic, instance, center_valid,
                                            num_classes=4)
  # Id 1: class 1 x3, class 2 x2 -> 1. Id 2: classes 3 and 1 tie -> 1.
  # Id 3: empty. Id 4: its center is not valid.
  np.testing.assert_array_equal(classes.numpy(), [[1, 1, -1, -1]])
  np.testing.assert_array_equal(areas.numpy(), [[5, 2, 0, 1]])


def test_pixel_instance_classes():
  instance = tf.constant([[[0, 1, 2]], [[2, 2, 0]]])
  classes = tf.constant([[4, 7], [-1, 5]])
  got = pm.pixel_instance_classes(instance, classes).numpy()
  np.testing.assert_array_equal(got, [[[-1, 4, 7]], [[5, 5, -1]]])


def test_kept_stuff_pixels_counts_each_image_alone():
  semantic = np.array([[[0, 0, 0, 2]], [[0, 2, 2, 1]]], np.int32)
  is_thing = semantic == 1
  got = pm.kept_stuff_pixels(semantic, is_thing, num_classes=3,
                             stuff_area_limit=2).numpy()
  np.testing.assert_array_equal(got, [[[1, 1, 1, 0]], [[0, 1, 1, 0]]])


def test_assemble_panoptic():
  enc = PanopticEncoding(3, (1, 2), label_divisor=100, void_label=-1)
  semantic = tf.constant([[[0, 0, 1, 2, 1]]])
  instance = tf.constant([[[0, 0, 3, 3, 0]]])
  pixel_classes = tf.constant([[[-1, -1, 2, 2, -1]]])
  stuff_kept = tf.constant([[[True, False, False, False, False]]])
  panoptic, category = pm.assemble_panoptic(semantic, instance,
                                            pixel_classes, stuff_kept, enc)
  np.testing.assert_array_equal(panoptic.numpy(),
                                [[[0, -100, 203, 203, -100]]])
  np.testing.assert_array_equal(category.numpy(), [[[0, -1, 2, 2, -1]]])


def test_score_instances_mean_class_probability_times_center():
  probs = np.array([[[[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]]], np.float32)
  instance = np.array([[[1, 1, 0]]], np.int32)
  pixel_classes = np.array([[[1, 1, -1]]], np.int32)
  got = pm.score_instances(probs, instance, pixel_classes,
                           areas=np.array([[2.0, 0.0]], np.float32),
                           center_scores=np.array([[0.5, 0.9]], np.float32))
  np.testing.assert_allclose(got.numpy(), [[(0.8 + 0.4) / 2 * 0.5, 0.0]],
                             rtol=1e-6)


def test_instance_masks():
  got = pm.instance_masks(tf.constant([[[0, 2], [1, 2]]]), top_k=3).numpy()
  np.testing.assert_array_equal(got[0], [[[0, 0], [1, 0]],
                                         [[0, 1], [0, 1]],
                                         [[0, 0], [0, 0]]])
