"""Position-sensitive axial-attention layers (paper section 3, eq. 4).

`PositionSensitiveAxialAttention` attends along one axis (height or width)
of a `[batch, height, width, channels]` tensor; `AxialAttention2D` stacks a
height layer and a width layer. The layer owns the weights (projection,
relative-position tables, batch norms) and the reshapes between images and
per-axis sequences; `axial_deeplab_tf.ops.axial_attention` computes eq. 4
on the sequences, in the global or the local-span layout.
"""

import tensorflow as tf
import tf_keras

from axial_deeplab_tf.layers import keras_utils
from axial_deeplab_tf.layers import normalization
from axial_deeplab_tf.ops import axial_attention
from axial_deeplab_tf.ops import shapes

_AXES = {'height': 1, 'width': 2}
# The paper's parameter counts assume 2 * 255 - 1 = 509-entry tables.
DEFAULT_MAX_DISTANCE = 254


def _check_span(span):
  if span is not None and (not isinstance(span, int) or span <= 0
                           or span % 2 == 0):
    raise ValueError(f'span must be None (global) or a positive odd int, '
                     f'got {span!r}.')


class PositionSensitiveAxialAttention(tf_keras.layers.Layer):
  """Multi-head position-sensitive self-attention along one axis.

  Input `[batch, height, width, channels]` -> output
  `[batch, height', width', value_depth]`, where the attended axis is
  divided by `strides` (rounded up; strided subsampling of the output).

  Layers: a 1x1 projection without bias to `2 * key_depth + value_depth`
  channels and its batch norm; per head `key_depth / num_heads` query/key
  channels and `value_depth / num_heads` value channels; relative-position
  tables `r^q`, `r^k` `[2 * max_distance + 1, key_depth / num_heads]` and
  `r^v` `[2 * max_distance + 1, value_depth / num_heads]` shared by all
  heads; a batch norm over the similarity terms (per term and head) and one
  over the retrieved outputs (per term and channel). No 1 / sqrt(d) scaling.
  For inference, `modeling.folding.fold_attention` folds the batch norms
  into the weights: the same function without normalisation.

  Args:
    axis: 'height' or 'width'.
    key_depth: total query/key depth over all heads.
    value_depth: total value (and output) depth; default `2 * key_depth`.
    num_heads: number of heads (8 in the paper).
    span: None for global attention, or an odd local span m.
    max_distance: largest offset with its own table row; tables have
      `2 * max_distance + 1` rows and larger offsets are clipped. Default
      254 (the paper's 509-entry tables); None sizes the table to the span
      (`max_distance = span - 1`, so 2m - 1 rows), which needs a span.
    use_content, use_query_rpe, use_key_rpe, use_value_rpe: switches for the
      four terms of eq. 4 (the paper's ablations).
    strides: 1 or 2, subsampling of the attended axis after attention.
    block_size: queries per block of the local layout (>= (span - 1) / 2);
      default `max((span - 1) / 2, 16)`.
    kernel_initializer, kernel_regularizer: of the projection.
    embedding_initializer: of the relative-position tables.
    norm_momentum, norm_epsilon, use_sync_bn: batch-norm settings.
    recompute: in training, recompute the similarities and attention
      weights in the backward pass, one chunk of sequences at a time,
      instead of keeping them (`tf.recompute_grad` per chunk); less peak
      memory, a slower step.
    memory_budget_mb: MiB allowed for the largest transient tensor of the
      attention: the `batch * other-axis` sequences are processed in chunks
      that fit it (`ops/chunking.py`), with the same result, in inference
      and in training with `recompute` (training without it keeps every
      chunk for the backward pass, so it runs unchunked). None: the
      automatic default, `ops.chunking.DEFAULT_BUDGET_MB` (16).
  """

  def __init__(self, axis, key_depth, value_depth=None, num_heads=8,
               span=None, max_distance=DEFAULT_MAX_DISTANCE,
               use_content=True, use_query_rpe=True, use_key_rpe=True,
               use_value_rpe=True, strides=1, block_size=None,
               kernel_initializer='he_normal', kernel_regularizer=None,
               embedding_initializer=None, norm_momentum=0.99,
               norm_epsilon=1e-3, use_sync_bn=False, recompute=False,
               memory_budget_mb=None, **kwargs):
    super().__init__(**kwargs)
    if axis not in _AXES:
      raise ValueError(f"axis must be 'height' or 'width', got {axis!r}.")
    _check_span(span)
    value_depth = 2 * key_depth if value_depth is None else value_depth
    for name, depth in (('key_depth', key_depth),
                        ('value_depth', value_depth)):
      if not isinstance(depth, int) or depth <= 0 or depth % num_heads:
        raise ValueError(f'{name} must be a positive multiple of num_heads='
                         f'{num_heads}, got {depth!r}.')
    if max_distance is None:
      if span is None:
        raise ValueError('max_distance=None sizes the tables to the span, '
                         'so it needs a local span; got span=None.')
      max_distance = span - 1
    if not isinstance(max_distance, int) or max_distance < 0:
      raise ValueError(f'max_distance must be a non-negative int, got '
                       f'{max_distance!r}.')
    if strides not in (1, 2):
      raise ValueError(f'strides must be 1 or 2, got {strides!r}.')
    half_span = None if span is None else (span - 1) // 2
    if block_size is None and half_span is not None:
      block_size = max(half_span, 16)
    if half_span is not None and block_size < half_span:
      raise ValueError(f'block_size must be >= (span - 1) / 2 = {half_span}, '
                       f'got {block_size}.')
    if memory_budget_mb is not None and not memory_budget_mb > 0:
      raise ValueError(f'memory_budget_mb must be None (automatic) or '
                       f'positive, got {memory_budget_mb!r}.')
    if not use_content and not (use_query_rpe or use_key_rpe):
      raise ValueError('At least one similarity term (use_content, '
                       'use_query_rpe, use_key_rpe) must be on.')
    self.axis = axis
    self.key_depth = key_depth
    self.value_depth = value_depth
    self.num_heads = num_heads
    self.span = span
    self.max_distance = max_distance
    self.use_content = use_content
    self.use_query_rpe = use_query_rpe
    self.use_key_rpe = use_key_rpe
    self.use_value_rpe = use_value_rpe
    self.strides = strides
    self.block_size = block_size
    self.kernel_initializer = keras_utils.fresh_initializer(
        kernel_initializer)
    self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)
    self.embedding_initializer = tf_keras.initializers.get(
        embedding_initializer or
        tf_keras.initializers.TruncatedNormal(stddev=1.0))
    self.norm_momentum = norm_momentum
    self.norm_epsilon = norm_epsilon
    self.use_sync_bn = use_sync_bn
    self.recompute = bool(recompute)
    self.memory_budget_mb = memory_budget_mb
    self._half_span = half_span

  def build(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    if input_shape.rank != 4:
      raise ValueError(f'{self.name}: input must be rank 4 [batch, height, '
                       f'width, channels], got shape {input_shape}.')
    if input_shape[-1] is None:
      raise ValueError(f'{self.name}: the channel dimension of the input '
                       f'must be known, got shape {input_shape}.')
    norm = dict(momentum=self.norm_momentum, epsilon=self.norm_epsilon)
    self.qkv_projection = tf_keras.layers.Conv2D(
        2 * self.key_depth + self.value_depth, 1, use_bias=False,
        kernel_initializer=self.kernel_initializer,
        kernel_regularizer=self.kernel_regularizer, name='qkv')
    self.qkv_norm = normalization.BatchNormalization(
        synchronized=self.use_sync_bn, name='qkv_bn', **norm)
    num_similarity = (int(self.use_content) + int(self.use_query_rpe) +
                      int(self.use_key_rpe))
    self.similarity_norm = normalization.TermBatchNormalization(
        num_similarity, axis=1, synchronized=self.use_sync_bn,
        name='similarity_bn', **norm)
    # The fused global path reads this norm's affine without calling it, so
    # it is built here (inside its own name scope, as a call would).
    with tf.name_scope(self.similarity_norm.name):
      self.similarity_norm.build(
          [tf.TensorShape([None, self.num_heads, None, None])] *
          num_similarity)
    # Outputs are normalised as the attention returns them, [batch', heads,
    # length, depth/heads]: statistics per (term, head, channel); the
    # normalised sum is the one tensor moved back to the image layout.
    self.output_norm = normalization.TermBatchNormalization(
        1 + int(self.use_value_rpe), axis=(1, 3),
        synchronized=self.use_sync_bn, name='output_bn', **norm)
    # Built here too: a call that only infers the output signature
    # (`keras_utils.infers_output_signature`) does not reach it.
    with tf.name_scope(self.output_norm.name):
      self.output_norm.build(
          [tf.TensorShape([None, self.num_heads, None,
                           self.value_depth // self.num_heads])] *
          self.output_norm.num_terms)
    rows = 2 * self.max_distance + 1
    key_per_head = self.key_depth // self.num_heads
    value_per_head = self.value_depth // self.num_heads
    def table(name, depth, used):
      if not used:
        return None
      return self.add_weight(
          name, [rows, depth], initializer=keras_utils.fresh_initializer(
              self.embedding_initializer))
    self.query_table = table('query_rpe', key_per_head, self.use_query_rpe)
    self.key_table = table('key_rpe', key_per_head, self.use_key_rpe)
    self.value_table = table('value_rpe', value_per_head, self.use_value_rpe)
    super().build(input_shape)

  def _to_sequences(self, x):
    """`[batch, height, width, heads * depth]` -> `[batch * other, heads,
    length, depth]`, the sequences of the attended axis, in one transpose
    (the height layer's axis swap and the head split together)."""
    batch, height, width, channels = shapes.dims(x)
    heads = self.num_heads
    x = tf.reshape(x, [batch, height, width, heads, channels // heads])
    if self.axis == 'height':
      x = tf.transpose(x, [0, 2, 3, 1, 4])
      return tf.reshape(x, [batch * width, heads, height, channels // heads])
    x = tf.transpose(x, [0, 1, 3, 2, 4])
    return tf.reshape(x, [batch * height, heads, width, channels // heads])

  def _to_image(self, x, batch, other):
    """The inverse of `_to_sequences` (for the output's length):
    `[batch * other, heads, length, depth]` -> `[batch, height, width,
    heads * depth]`, one transpose."""
    _, heads, length, depth = shapes.dims(x)
    x = tf.reshape(x, [batch, other, heads, length, depth])
    if self.axis == 'height':
      x = tf.transpose(x, [0, 3, 1, 2, 4])
      return tf.reshape(x, [batch, length, other, heads * depth])
    x = tf.transpose(x, [0, 1, 3, 2, 4])
    return tf.reshape(x, [batch, other, length, heads * depth])

  @property
  def folded(self):
    """Whether `modeling.folding.fold_attention` switched the layer to its
    inference-only path (it sets `folded_projection`, a 1x1 convolution
    with bias, and `folded_content_scale` / `folded_output_scale`, None or
    float32 weights; see that module for what they compute)."""
    return getattr(self, 'folded_projection', None) is not None

  def call(self, inputs, training=None):
    if inputs.shape.rank != 4:
      raise ValueError(f'{self.name}: input must be rank 4, got shape '
                       f'{inputs.shape}.')
    if training is None:
      training = tf_keras.backend.learning_phase()
    folded = self.folded
    if folded and training:
      raise ValueError(f'{self.name}: the layer is folded for inference '
                       f'(modeling/folding.py) and cannot train.')
    if folded:
      qkv = self.folded_projection(inputs)
    else:
      qkv = self.qkv_norm(self.qkv_projection(inputs), training=training)
    if keras_utils.infers_output_signature():
      return keras_utils.placeholder_like_output(self, inputs)
    batch, height, width, _ = shapes.dims(qkv)
    other = width if self.axis == 'height' else height
    kd = self.key_depth
    # tf.split (not slices): its gradient is one concat, where three
    # StridedSliceGrads would each write a zero-filled full-size tensor.
    q, k, v = (self._to_sequences(x) for x in
               tf.split(qkv, [kd, kd, self.value_depth], axis=-1))
    tables = (self.query_table, self.key_table, self.value_table)
    tables = tuple(None if t is None else tf.cast(t, q.dtype) for t in tables)
    # [batch * other, heads, length, depth / heads] each (content, r^v).
    outputs = axial_attention.attention(
        q, k, v, tables, self.use_content,
        None if folded else self.similarity_norm, bool(training),
        half_span=self._half_span, block_size=self.block_size,
        recompute=self.recompute, memory_budget_mb=self.memory_budget_mb,
        content_scale=self.folded_content_scale if folded else None)
    if folded:
      out = outputs[0] if len(outputs) == 1 else outputs[0] + outputs[1]
      if self.folded_output_scale is not None:
        scale = tf.reshape(self.folded_output_scale,
                           [self.num_heads, 1, -1])
        out *= tf.cast(scale, out.dtype)
    else:
      out = self.output_norm(outputs, training=training)
    out = tf.cast(out, self.compute_dtype)
    if self.strides == 2:
      out = out[:, :, ::2]
    return self._to_image(out, batch, other)

  def compute_output_shape(self, input_shape):
    shape = tf.TensorShape(input_shape).as_list()
    axis = _AXES[self.axis]
    if shape[axis] is not None and self.strides == 2:
      shape[axis] = (shape[axis] + 1) // 2
    return tf.TensorShape(shape[:3] + [self.value_depth])

  def madds(self, input_shape):
    """Multiply-adds of the similarity terms and retrievals, as the paper
    counts them: `min(span, length)` keys per query (the projection is a
    Conv2D sublayer counted on its own).

    Args:
      input_shape: `[batch, height, width, channels]` with known sizes.

    Returns:
      Python int.
    """
    _, height, width, _ = tf.TensorShape(input_shape).as_list()
    length = height if self.axis == 'height' else width
    keys = length if self.span is None else min(self.span, length)
    per_key = (self.key_depth * (int(self.use_content) +
                                 int(self.use_query_rpe) +
                                 int(self.use_key_rpe)) +
               self.value_depth * (1 + int(self.use_value_rpe)))
    return height * width * keys * per_key

  def get_config(self):
    config = super().get_config()
    config.update(
        axis=self.axis, key_depth=self.key_depth,
        value_depth=self.value_depth, num_heads=self.num_heads,
        span=self.span, max_distance=self.max_distance,
        use_content=self.use_content, use_query_rpe=self.use_query_rpe,
        use_key_rpe=self.use_key_rpe, use_value_rpe=self.use_value_rpe,
        strides=self.strides, block_size=self.block_size,
        kernel_initializer=keras_utils.serialize_initializer(
            self.kernel_initializer),
        kernel_regularizer=keras_utils.serialize_regularizer(
            self.kernel_regularizer),
        embedding_initializer=keras_utils.serialize_initializer(
            self.embedding_initializer),
        norm_momentum=self.norm_momentum, norm_epsilon=self.norm_epsilon,
        use_sync_bn=self.use_sync_bn, recompute=self.recompute,
        memory_budget_mb=self.memory_budget_mb)
    return config


class AxialAttention2D(tf_keras.layers.Layer):
  """Height-axis attention followed by width-axis attention.

  Input `[batch, height, width, channels]` -> output
  `[batch, ceil(height / strides), ceil(width / strides), value_depth]`.
  Nothing sits between the two layers. With `strides == 2`, `stride_mode`
  says where the resolution halves:

  * `'subsample'` (the paper's default): each layer keeps every other position
    of its own axis after attending, so the width layer runs on half the
    rows;
  * `'avg_pool'` (the authors' PyTorch reference): both layers run at full
    resolution, then a 2x2 average pool (windows cut by the border average
    their valid pixels only).

  Args:
    key_depth, value_depth, num_heads, span, max_distance, switches,
    strides, block_size, initializers, norm settings, recompute,
    memory_budget_mb: as in `PositionSensitiveAxialAttention`, shared by
    both layers.
    stride_mode: 'subsample' or 'avg_pool', see above.
  """

  STRIDE_MODES = ('subsample', 'avg_pool')

  def __init__(self, key_depth, value_depth=None, strides=1,
               stride_mode='subsample', **kwargs):
    layer_keys = ('num_heads', 'span', 'max_distance', 'use_content',
                  'use_query_rpe', 'use_key_rpe', 'use_value_rpe',
                  'block_size', 'kernel_initializer', 'kernel_regularizer',
                  'embedding_initializer', 'norm_momentum', 'norm_epsilon',
                  'use_sync_bn', 'recompute', 'memory_budget_mb')
    self._layer_kwargs = {k: kwargs.pop(k) for k in layer_keys if k in kwargs}
    super().__init__(**kwargs)
    if stride_mode not in self.STRIDE_MODES:
      raise ValueError(f'stride_mode: expected one of {self.STRIDE_MODES}, '
                       f'got {stride_mode!r}.')
    self.key_depth = key_depth
    self.value_depth = 2 * key_depth if value_depth is None else value_depth
    self.strides = strides
    self.stride_mode = stride_mode
    axis_strides = strides if stride_mode == 'subsample' else 1
    self.height_attention = PositionSensitiveAxialAttention(
        'height', key_depth, self.value_depth, strides=axis_strides,
        name='height', **self._layer_kwargs)
    self.width_attention = PositionSensitiveAxialAttention(
        'width', key_depth, self.value_depth, strides=axis_strides,
        name='width', **self._layer_kwargs)
    self.pool = None
    if strides == 2 and stride_mode == 'avg_pool':
      self.pool = tf_keras.layers.AveragePooling2D(2, 2, padding='same',
                                                   name='pool')

  def call(self, inputs, training=None):
    x = self.height_attention(inputs, training=training)
    x = self.width_attention(x, training=training)
    return x if self.pool is None else self.pool(x)

  def compute_output_shape(self, input_shape):
    shape = self.height_attention.compute_output_shape(input_shape)
    shape = self.width_attention.compute_output_shape(shape)
    return shape if self.pool is None else self.pool.compute_output_shape(
        shape)

  def get_config(self):
    config = super().get_config()
    inner = self.height_attention.get_config()
    for key in self._layer_kwargs:
      config[key] = inner[key]
    config.update(key_depth=self.key_depth, value_depth=self.value_depth,
                  strides=self.strides, stride_mode=self.stride_mode)
    return config
