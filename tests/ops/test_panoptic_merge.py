"""Post-processing on hand-built inputs and against a numpy loop reference."""

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.ops import panoptic_merge as pp
from axial_deeplab_tf.ops.panoptic_merge import PostProcessingOptions

VOID = 255
DIV = 1000


def encoding(things, num_classes=5, label_divisor=DIV, void_label=VOID):
  return PanopticEncoding(num_classes, tuple(things), label_divisor,
                          void_label)


def postprocess(logits, heat, off, things, output_instance_masks=True,
                label_divisor=DIV, void_label=VOID, **options):
  """`panoptic_postprocess` with the classes of `logits` and loose options."""
  return pp.panoptic_postprocess(
      logits, heat, off,
      encoding(things, np.shape(logits)[-1], label_divisor, void_label),
      PostProcessingOptions(**options), output_instance_masks)


def one_hot_logits(semantic, num_classes, high=4.0):
  """Logits [H, W, K] whose argmax is `semantic`: `high` there, 0 elsewhere."""
  logits = np.zeros(semantic.shape + (num_classes,), np.float32)
  np.put_along_axis(logits, semantic[..., None], high, axis=-1)
  return logits


def offsets_to(center_of_pixel, height, width, jitter=None):
  """Offsets [H, W, 2] from each pixel to center_of_pixel[y][x] (y, x)."""
  ys, xs = np.mgrid[:height, :width]
  off = np.stack([center_of_pixel[..., 0] - ys, center_of_pixel[..., 1] - xs],
                 axis=-1).astype(np.float32)
  if jitter is not None:
    off += jitter
  return off


def run(semantic, heat, off, things, num_classes, **kwargs):
  """Runs the op on one image (adds and removes the batch axis)."""
  kwargs.setdefault('stuff_area_limit', 0)
  out = postprocess(
      one_hot_logits(semantic, num_classes)[None], heat[None, ..., None],
      off[None], things, **kwargs)
  return {k: v.numpy()[0] for k, v in out.items()}


def two_touching_cars():
  """9x13 image: stuff 0 background; class 1 blocks touching at column 6."""
  h, w = 9, 13
  semantic = np.zeros((h, w), np.int32)
  semantic[2:7, 1:6] = 1  # left car, center (4, 3)
  semantic[2:7, 6:11] = 1  # right car, center (4, 8), touches the left one
  heat = np.zeros((h, w), np.float32)
  heat[4, 3] = 0.9
  heat[4, 8] = 0.8
  centers = np.zeros((h, w, 2), np.float32)
  centers[:, :6] = (4, 3)
  centers[:, 6:] = (4, 8)
  jitter = np.random.default_rng(0).uniform(-0.4, 0.4, (h, w, 2))
  off = offsets_to(centers, h, w, jitter.astype(np.float32))
  expected = np.zeros((h, w), np.int32)
  expected[2:7, 1:6] = 1 * DIV + 1
  expected[2:7, 6:11] = 1 * DIV + 2
  return semantic, heat, off, expected


def test_two_touching_instances_of_one_class():
  semantic, heat, off, expected = two_touching_cars()
  out = run(semantic, heat, off, [1], num_classes=2, top_k=5)
  np.testing.assert_array_equal(out['panoptic'], expected)
  np.testing.assert_array_equal(out['instance'], expected % DIV)
  np.testing.assert_array_equal(out['category'], expected // DIV)
  np.testing.assert_array_equal(out['semantic'], semantic)
  np.testing.assert_array_equal(out['instance_valid'], [1, 1, 0, 0, 0])
  np.testing.assert_array_equal(out['instance_classes'], [1, 1, -1, -1, -1])
  np.testing.assert_array_equal(out['center_points'][:2], [[4, 3], [4, 8]])
  np.testing.assert_allclose(out['center_scores'][:2], [0.9, 0.8])
  np.testing.assert_array_equal(out['instance_masks'][0], expected == 1001)
  np.testing.assert_array_equal(out['instance_masks'][1], expected == 1002)
  assert not out['instance_masks'][2:].any()
  # Score = mean softmax probability of class 1 (logits 4 vs 0) x center.
  p = np.exp(4.0) / (np.exp(4.0) + 1.0)
  np.testing.assert_allclose(out['instance_scores'], [p * 0.9, p * 0.8, 0, 0, 0],
                             rtol=1e-6)


def test_center_below_threshold_joins_nearest_and_majority_vote():
  semantic, heat, off, expected = two_touching_cars()
  # A 2x2 blob of thing class 2 around its own center (1, 11), scored 0.05:
  # below threshold, so its pixels join the nearest kept center (4, 8) and
  # take that instance's majority class 1.
  semantic[0:2, 11:13] = 2
  heat[1, 11] = 0.05
  off[0:2, 11:13] = offsets_to(np.full((9, 13, 2), (1, 11), np.float32),
                               9, 13)[0:2, 11:13]
  expected[0:2, 11:13] = 1 * DIV + 2
  out = run(semantic, heat, off, [1, 2], num_classes=3, top_k=5)
  np.testing.assert_array_equal(out['panoptic'], expected)
  np.testing.assert_array_equal(out['semantic'][0:2, 11:13], 2)
  np.testing.assert_array_equal(out['category'][0:2, 11:13], 1)
  # Lowering the threshold (and shrinking the NMS window, which with 7x7
  # reaches the 0.8 peak) makes the blob its own instance of class 2.
  out = run(semantic, heat, off, [1, 2], num_classes=3, top_k=5,
            center_threshold=0.01, nms_kernel=5)
  expected[0:2, 11:13] = 2 * DIV + 3
  np.testing.assert_array_equal(out['panoptic'], expected)


def test_majority_vote_picks_most_frequent_class():
  # One center; 6 pixels of class 2 and 4 of class 1 group to it.
  semantic = np.zeros((5, 7), np.int32)
  semantic[1, 1:7] = 2
  semantic[3, 1:5] = 1
  heat = np.zeros((5, 7), np.float32)
  heat[2, 3] = 0.7
  off = offsets_to(np.full((5, 7, 2), (2, 3), np.float32), 5, 7)
  out = run(semantic, heat, off, [1, 2], num_classes=3, top_k=4)
  expected = np.zeros((5, 7), np.int32)
  expected[semantic > 0] = 2 * DIV + 1
  np.testing.assert_array_equal(out['panoptic'], expected)
  np.testing.assert_array_equal(out['instance_classes'], [2, -1, -1, -1])


def test_stuff_below_area_limit_becomes_void():
  semantic = np.zeros((7, 9), np.int32)  # class 0: 63 - 6 - 5 = 52 px
  semantic[0:2, 0:3] = 2  # 6 px of stuff class 2: kept at limit 6
  semantic[5, 2:7] = 3  # 5 px of stuff class 3: void at limit 6
  heat = np.zeros((7, 9), np.float32)
  off = np.zeros((7, 9, 2), np.float32)
  out = run(semantic, heat, off, [1], num_classes=4, top_k=3,
            stuff_area_limit=6)
  expected = semantic * DIV
  expected[semantic == 3] = VOID * DIV
  np.testing.assert_array_equal(out['panoptic'], expected)
  np.testing.assert_array_equal(out['category'][semantic == 3], VOID)
  np.testing.assert_array_equal(out['instance'], 0)
  assert not out['instance_valid'].any()


def test_more_centers_than_top_k():
  # Five peaks on a row, far apart; top_k = 3 keeps the three highest.
  h, w = 5, 41
  semantic = np.ones((h, w), np.int32)
  heat = np.zeros((h, w), np.float32)
  xs = [4, 12, 20, 28, 36]
  for x, s in zip(xs, [0.5, 0.9, 0.3, 0.8, 0.7]):
    heat[2, x] = s
  centers = np.zeros((h, w, 2), np.float32)
  for x in range(w):  # each pixel points to its own peak
    centers[:, x] = (2, xs[int(np.argmin([abs(x - c) for c in xs]))])
  off = offsets_to(centers, h, w)
  out = run(semantic, heat, off, [1], num_classes=2, top_k=3)
  np.testing.assert_array_equal(out['center_points'][:, 1], [12, 28, 36])
  # Columns point to their nearest peak (ties to the left one): 0..8 -> 4,
  # 9..16 -> 12, 17..24 -> 20, 25..32 -> 28, 33..40 -> 36. Kept ids: x=12 ->
  # 1, x=28 -> 2, x=36 -> 3. Pixels of dropped peaks join the nearest kept
  # one: peak 4 -> 12; peak 20 -> 12 (12/28 tie goes to the higher score).
  want = np.zeros(w, np.int32)
  want[:25] = 1
  want[25:33] = 2
  want[33:] = 3
  np.testing.assert_array_equal(out['instance'], np.tile(want, (h, 1)))
  np.testing.assert_array_equal(out['panoptic'], DIV + out['instance'])


def test_nms_kernel_suppresses_close_peaks():
  h, w = 7, 11
  semantic = np.ones((h, w), np.int32)
  heat = np.zeros((h, w), np.float32)
  heat[3, 4], heat[3, 6] = 0.9, 0.6  # two columns apart
  off = np.zeros((h, w, 2), np.float32)
  for kernel, count in ((5, 1), (3, 2), (1, 2)):
    out = run(semantic, heat, off, [1], num_classes=2, top_k=4,
              nms_kernel=kernel)
    assert out['instance_valid'].sum() == count, kernel


def test_no_center_makes_things_void():
  semantic = np.zeros((5, 6), np.int32)
  semantic[1:4, 1:4] = 1
  out = run(semantic, np.zeros((5, 6), np.float32),
            np.zeros((5, 6, 2), np.float32), [1], num_classes=2, top_k=2)
  expected = np.where(semantic == 1, VOID * DIV, 0)
  np.testing.assert_array_equal(out['panoptic'], expected)


def test_group_pixels_only_the_pixels_given():
  # Image 0: centers x = 0 and x = 4; x = 1 points at x = 3.5 (nearer 4),
  # x = 2 is a tie (lower slot), x = 3 is not asked for. Image 1: only slot
  # 1 (id 2) is valid. Image 2: a valid center, no pixel asked for.
  points = np.array([[[0, 0], [0, 4], [0, 0]], [[0, 0], [0, 2], [0, 0]],
                     [[0, 1], [0, 0], [0, 0]]], np.int32)
  valid = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 0]], bool)
  off = np.zeros((3, 1, 5, 2), np.float32)
  off[0, 0, 1] = (0.0, 2.5)
  pixels = np.array([[[1, 1, 1, 0, 1]], [[0, 1, 1, 1, 0]], [[0] * 5]], bool)
  got = pp.group_pixels(off, points, valid, pixels).numpy()
  np.testing.assert_array_equal(got[:, 0], [[1, 2, 1, 0, 2], [0, 2, 2, 2, 0],
                                            [0] * 5])


def np_reference(logits, heat, off, things, thr, kernel, top_k, area_limit):
  """Loop-based numpy version of the documented algorithm, one image."""
  h, w, k = logits.shape
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  sem = probs.argmax(-1)
  r = kernel // 2
  cands = []
  for y in range(h):
    for x in range(w):
      window = heat[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]
      if heat[y, x] == window.max() and heat[y, x] > thr:
        cands.append((-heat[y, x], y * w + x, y, x))
  cands = sorted(cands)[:top_k]
  inst = np.zeros((h, w), np.int64)
  for y in range(h):
    for x in range(w):
      if sem[y, x] in things and cands:
        py = np.float32(y) + off[y, x, 0]
        px = np.float32(x) + off[y, x, 1]
        d = [(py - cy) ** 2 + (px - cx) ** 2 for _, _, cy, cx in cands]
        inst[y, x] = int(np.argmin(d)) + 1
  pan = np.full((h, w), VOID * DIV, np.int64)
  scores = np.zeros(top_k)
  for i in range(1, len(cands) + 1):
    mask = inst == i
    if mask.any():
      cls = np.bincount(sem[mask], minlength=k).argmax()
      pan[mask] = cls * DIV + i
      scores[i - 1] = probs[mask][:, cls].mean() * -cands[i - 1][0]
  for c in range(k):
    mask = sem == c
    if c not in things and mask.sum() >= area_limit:
      pan[mask] = c * DIV
  return pan, scores


def random_case(seed, batch, h, w, k=5):
  rng = np.random.default_rng(seed)
  logits = rng.normal(size=(batch, h, w, k)).astype(np.float32)
  heat = rng.random((batch, h, w, 1)).astype(np.float32) * 0.4
  off = rng.normal(size=(batch, h, w, 2)).astype(np.float32) * 6
  return logits, heat, off


@pytest.mark.parametrize('h,w,top_k', [(17, 23, 8), (32, 33, 200)])
def test_random_inputs_match_numpy_reference(h, w, top_k):
  logits, heat, off = random_case(seed=h, batch=2, h=h, w=w)
  opts = dict(center_threshold=0.1, nms_kernel=5, top_k=top_k,
              stuff_area_limit=60)
  out = postprocess(logits, heat, off, [1, 3], **opts)
  for b in range(2):
    pan, scores = np_reference(logits[b], heat[b, ..., 0], off[b], [1, 3],
                               0.1, 5, top_k, 60)
    np.testing.assert_array_equal(out['panoptic'][b].numpy(), pan)
    np.testing.assert_allclose(out['instance_scores'][b].numpy(), scores,
                               rtol=1e-5, atol=1e-7)


def test_batch_of_two_equals_each_image_alone_and_jit():
  logits, heat, off = random_case(seed=7, batch=2, h=21, w=19)
  kwargs = dict(things=[2, 4], top_k=12, stuff_area_limit=30)
  both = postprocess(logits, heat, off, **kwargs)
  jit = tf.function(
      lambda a, b, c: postprocess(a, b, c, **kwargs),
      jit_compile=True, autograph=False)(logits, heat, off)
  for b in range(2):
    alone = postprocess(logits[b:b + 1], heat[b:b + 1], off[b:b + 1],
                        **kwargs)
    for key, value in alone.items():
      np.testing.assert_allclose(both[key][b].numpy(), value[0].numpy(),
                                 err_msg=key)
  for key, value in both.items():
    np.testing.assert_allclose(jit[key].numpy(), value.numpy(), rtol=1e-6,
                               err_msg=key)


def test_errors_name_the_argument():
  logits = tf.zeros([1, 4, 4, 3])
  maps = (tf.zeros([1, 4, 4, 1]), tf.zeros([1, 4, 4, 2]))
  with pytest.raises(ValueError, match='label_divisor'):
    postprocess(logits, *maps, [1], top_k=200, label_divisor=200)
  with pytest.raises(ValueError, match='thing_class_ids'):
    postprocess(logits, *maps, [1, 3])
  with pytest.raises(ValueError, match='semantic_logits'):
    pp.panoptic_postprocess(logits, *maps, encoding([1], num_classes=4))
  for field, value in (('nms_kernel', 4), ('nms_kernel', 0), ('top_k', 0),
                       ('stuff_area_limit', -1), ('top_k', 'many')):
    with pytest.raises(ValueError, match=field):
      PostProcessingOptions(**{field: value})


def test_options_defaults_and_from_config():
  # Panoptic-DeepLab's Cityscapes settings.
  assert PostProcessingOptions() == PostProcessingOptions(
      center_threshold=0.1, nms_kernel=7, top_k=200, stuff_area_limit=2048)

  class Config:
    center_threshold = 0.3
    nms_kernel = 13
    top_k = 50
    stuff_area_limit = 4096
    label_divisor = 256  # not an option: ignored

  assert PostProcessingOptions.from_config(Config) == PostProcessingOptions(
      0.3, 13, 50, 4096)
