"""An independent description of our wide-ResNet backbone's variables
(name -> shape) from SWideRNet's and MaX-DeepLab's definitions, for the
tests of deeplab2's wide models (`test_deeplab2_wide`): the reduced
fixtures and the full-size manifests are checked against it."""

_NORM = ('gamma', 'beta', 'moving_mean', 'moving_variance')


def variables(v):
  """Our backbone's variables (name -> shape), from SWideRNet's definition:
  a 3x3 stem of round(64 s) channels; five stages (3, then int(b * l) for b
  in stage_blocks) at input strides 2, 2, 4, 8, 16 with base width f =
  round(32 * 2**i * m) (m the stem multiplier at stage 1); a block whose
  input stride reaches axial_beyond_stride is 1x1 to e f, height and width
  attention (q/k k f, v v f over h heads, tables of 2 max_distance + 1
  rows: 509 at full size), 1x1 to 4f;
  else stage 5 is a 1x1 f, 3x3 2f, 1x1 4f bottleneck, the others two 3x3
  convs of 4f; a 1x1 shortcut where the width changes. Then MaX-DeepLab's
  stacked decoder (`_decoder`)."""
  shapes = {}
  def norm(name, shape):
    shapes.update({f'{name}/{w}': shape for w in _NORM})
  def conv(name, k, cin, cout):
    shapes[f'{name}/conv/kernel'] = (k, k, cin, cout)
    norm(f'{name}/bn', (cout,))
  def block(name, c, f, stride, bottleneck):
    if v.axial_beyond_stride and stride >= v.axial_beyond_stride:
      e, k, val, h = (v.attention_expansion * f, v.key_expansion * f,
                      v.value_expansion * f, v.num_heads)
      rows = 2 * v.max_distance + 1
      conv(f'{name}/conv1', 1, c, e)
      for axis, cin in (('height', e), ('width', val)):
        a = f'{name}/attention/{axis}'
        shapes[f'{a}/qkv/kernel'] = (1, 1, cin, 2 * k + val)
        norm(f'{a}/qkv_bn', (2 * k + val,))
        norm(f'{a}/similarity_bn', (3, h))
        norm(f'{a}/output_bn', (2, h, val // h))
        shapes[f'{a}/query_rpe'] = shapes[f'{a}/key_rpe'] = (rows, k // h)
        shapes[f'{a}/value_rpe'] = (rows, val // h)
      conv(f'{name}/conv3', 1, val, 4 * f)
    elif bottleneck:
      conv(f'{name}/conv1', 1, c, f)
      conv(f'{name}/conv2', 3, f, 2 * f)
      conv(f'{name}/conv3', 1, 2 * f, 4 * f)
    else:
      conv(f'{name}/conv1', 3, c, 4 * f)
      conv(f'{name}/conv2', 3, 4 * f, 4 * f)
    if c != 4 * f:
      conv(f'{name}/shortcut', 1, c, 4 * f)
    return 4 * f
  c = int(round(64 * v.stem_width_multiplier))
  conv('stem', 3, 3, c)
  counts = [3] + [int(b * v.layer_multiplier) for b in v.stage_blocks]
  widths = {}  # output width by output stride
  for s, count in enumerate(counts):
    f = int(round(32 * 2**s * (v.stem_width_multiplier if s == 0
                               else v.width_multiplier)))
    for b in range(count):
      stride = (2, 2, 4, 8, 16)[s] if b == 0 else (2, 4, 8, 16, 32)[s]
      c = block(f'stage{s + 1}_block{b + 1}', c, f, stride, s == 4)
    widths[min(2**(s + 1), v.output_stride)] = [c]
  _decoder(v, widths, conv, block)
  return shapes


def _decoder(v, widths, conv, block):
  """MaX-DeepLab's stacked decoder (deeplab2 `backbone_decoder_num_stacks`):
  per stack, stages at strides halving from the output stride down to 4
  and doubling back up to it; stage i at stride s (n = s, or 32 at the
  output stride) sums the previous output and the latest two features of
  stride s, each projected by a 1x1 conv (stride 2 from stride s / 2)
  unless it is round(64 n m) wide, then runs `decoder_blocks_per_stage`
  blocks of base width floor(16 n m) (axial from axial_beyond_stride,
  else basic)."""
  down = [v.output_stride >> i for i in range(1, 10)
          if v.output_stride >> i >= 4]
  strides = (down + down[-2::-1] + [v.output_stride]) * v.decoder_num_stacks
  previous = v.output_stride
  for i, s in enumerate(strides, 1):
    n = 32 if s == v.output_stride else s
    width = int(round(64 * n * v.width_multiplier))
    for k, (c, p) in enumerate([(widths[previous][-1], previous)] +
                               [(c, s) for c in widths[s][-2:]], 1):
      if c != width:
        kind = 'strided' if 2 * p == s else 'resized'
        conv(f'decoder_stage{i}_fuse/{kind}{k}', 1, c, width)
    c = width
    for b in range(v.decoder_blocks_per_stage):
      c = block(f'decoder_stage{i}_block{b + 1}', c,
                int(16 * n * v.width_multiplier), n, False)
    widths[s].append(c)
    previous = s
