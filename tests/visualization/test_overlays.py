"""Pixel-exact checks of palettes and overlays."""

import numpy as np
import pytest

from axial_deeplab_tf import visualization as vis
from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.visualization import palettes


def test_palettes_sizes_and_known_colours():
  cityscapes = vis.get_palette('cityscapes')
  assert cityscapes.shape == (19, 3) and cityscapes.dtype == np.uint8
  assert tuple(cityscapes[0]) == (128, 64, 128)     # road
  assert tuple(cityscapes[13]) == (0, 0, 142)       # car
  coco = vis.get_palette('coco')
  assert coco.shape == (133, 3)
  assert len({tuple(c) for c in coco}) == 133       # all distinct
  assert len({tuple(c) for c in vis.get_palette('synthetic')}) == 5
  assert vis.get_palette('generic', 7).shape == (7, 3)


def test_label_colormap_bits():
  cmap = vis.label_colormap(9)
  assert tuple(cmap[0]) == (0, 0, 0)
  assert tuple(cmap[1]) == (128, 0, 0)   # bit 0 -> top bit of R
  assert tuple(cmap[2]) == (0, 128, 0)
  assert tuple(cmap[4]) == (0, 0, 128)
  assert tuple(cmap[8]) == (64, 0, 0)    # bit 3 -> next bit of R


def test_palette_errors_name_the_argument():
  with pytest.raises(ValueError, match='name'):
    vis.get_palette('ade20k')
  with pytest.raises(ValueError, match='num_classes'):
    vis.get_palette('cityscapes', 20)
  with pytest.raises(ValueError, match='num_classes'):
    vis.get_palette('generic')


def test_colorize_void_and_padding_are_black():
  palette = vis.get_palette('synthetic')
  labels = np.array([[0, 4, 255], [-1, 2, 5]])
  out = vis.colorize(labels, palette)
  np.testing.assert_array_equal(out[0, 0], palette[0])
  np.testing.assert_array_equal(out[0, 1], palette[4])
  np.testing.assert_array_equal(out[1, 1], palette[2])
  for y, x in ((0, 2), (1, 0), (1, 2)):
    np.testing.assert_array_equal(out[y, x], palettes.VOID_COLOR)


def test_instance_boundaries():
  instance = np.zeros((5, 6), int)
  instance[1:4, 1:3] = 1      # 3x2 block
  instance[1:4, 3:5] = 2      # touching block on the right
  edge = vis.instance_boundaries(instance)
  expected = np.zeros((5, 6), bool)
  expected[1:4, 1:5] = True   # blocks are 2 wide: every pixel touches
  np.testing.assert_array_equal(edge, expected)
  big = np.zeros((7, 7), int)
  big[1:6, 1:6] = 3
  edge = vis.instance_boundaries(big)
  assert edge[1, 3] and edge[3, 1] and edge[5, 5]
  assert not edge[3, 3] and not edge[0, 0]
  # Instances touching the image border have no outline there.
  full = np.ones((3, 3), int)
  assert not vis.instance_boundaries(full).any()


def test_panoptic_overlay_pixels():
  image = np.full((4, 4, 3), 100, np.uint8)
  semantic = np.array([[0] * 4, [0, 2, 2, 0], [0, 2, 2, 0], [255] * 4])
  instance = np.zeros((4, 4), int)
  instance[1:3, 1:3] = 1
  palette = vis.get_palette('synthetic')
  out = vis.panoptic_overlay(image, semantic, instance, palette, alpha=0.25)
  expected_stuff = np.round(0.75 * 100 + 0.25 * palette[0].astype(float))
  np.testing.assert_array_equal(out[0, 0], expected_stuff)
  np.testing.assert_array_equal(out[3, 0], [100, 100, 100])  # void: image
  np.testing.assert_array_equal(out[1, 1], [255, 255, 255])  # outline
  assert out.dtype == np.uint8 and out.shape == (4, 4, 3)


def test_blend_rejects_bad_alpha():
  with pytest.raises(ValueError, match='alpha'):
    vis.blend(np.zeros((1, 1, 3)), np.zeros((1, 1, 3)), 1.5)


def test_heatmap_ramp():
  heat = np.array([[0.0, 1 / 3, 0.5], [2 / 3, 1.0, 7.0]])
  out = vis.heatmap_to_color(heat, vmax=1.0)
  np.testing.assert_array_equal(out[0, 0], [0, 0, 0])
  np.testing.assert_array_equal(out[0, 1], [255, 0, 0])
  np.testing.assert_array_equal(out[0, 2], [255, 128, 0])
  np.testing.assert_array_equal(out[1, 0], [255, 255, 0])
  np.testing.assert_array_equal(out[1, 1], [255, 255, 255])
  np.testing.assert_array_equal(out[1, 2], [255, 255, 255])  # clipped


def test_offsets_colour_wheel():
  offsets = np.array([[[0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]],
                      [[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])
  out = vis.offsets_to_color(offsets)
  np.testing.assert_array_equal(out[0, 0], [255, 0, 0])      # right: red
  np.testing.assert_array_equal(out[0, 1], [128, 255, 0])    # up: hue 1/4
  np.testing.assert_array_equal(out[0, 2], [0, 255, 255])    # left: cyan
  np.testing.assert_array_equal(out[1, 0], [128, 0, 255])    # down: 3/4
  np.testing.assert_array_equal(out[1, 1], [128, 0, 0])      # half length
  np.testing.assert_array_equal(out[1, 2], [0, 0, 0])        # zero: black
  assert not vis.offsets_to_color(np.zeros((2, 2, 2))).any()


def test_colorize_panoptic_hand_computed():
  """Class colour times 1 - 0.5 * ((37 i) mod 11) / 10 for instance i > 0;
  void and classes outside the palette are black."""
  encoding = PanopticEncoding(num_classes=4, thing_class_ids=(1, 2),
                              label_divisor=10, void_label=255)
  palette = np.array([(100, 0, 0), (0, 200, 0), (0, 0, 50)], np.uint8)
  panoptic = np.array([[[0, 11, 12], [2550, 21, 35]]])   # [1, 2, 3]
  # shades: i=1 -> 37 mod 11 = 4 -> 0.8; i=2 -> 74 mod 11 = 8 -> 0.6.
  expected = np.array([[[(100, 0, 0), (0, 160, 0), (0, 120, 0)],
                        [(0, 0, 0), (0, 0, 40), (0, 0, 0)]]], np.uint8)
  out = vis.colorize_panoptic(panoptic, encoding, palette)
  assert out.dtype == np.uint8 and out.shape == (1, 2, 3, 3)
  np.testing.assert_array_equal(out, expected)
