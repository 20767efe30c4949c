"""The image classifier: a backbone, global average pooling, a dense head.

    images [B, H, W, 3] (any H, W) -> backbone -> highest level [B, h, w, C]
      -> global average pooling [B, C] -> dropout -> dense -> float32
      logits [B, num_classes]

Why not Model Garden's `ClassificationModel`: it is a functional model, so
its checkpoint holds the backbone at `model/layer_with_weights-0/...`
(the `backbone` property is not a checkpoint path). Ours keeps the backbone
under the attribute `backbone` and the dense layer under `head`, as the
panoptic model keeps its backbone, so both tasks' checkpoints hold it at
`model/backbone/...` and a panoptic run starts from a classification
checkpoint with `init_checkpoint_modules: backbone`.
"""

import tensorflow as tf
import tf_keras


@tf_keras.utils.register_keras_serializable(package='axial_deeplab_tf')
class ImageClassifier(tf_keras.Model):
  """Backbone -> global average pooling -> dropout -> dense logits.

  Args:
    backbone: images [B, H, W, 3] -> dict of features keyed by level; the
      highest level is pooled.
    num_classes: classes of the dense head.
    dropout_rate: dropout before the head.
    kernel_regularizer: of the dense head (the backbone has its own).

  Call: images [B, H, W, 3] -> float32 logits [B, num_classes].
  """

  def __init__(self, backbone, num_classes, dropout_rate=0.0,
               kernel_regularizer=None, **kwargs):
    super().__init__(**kwargs)
    self.backbone = backbone
    self.pool = tf_keras.layers.GlobalAveragePooling2D(name='pool')
    self.dropout = tf_keras.layers.Dropout(dropout_rate, name='dropout')
    self.head = tf_keras.layers.Dense(
        num_classes, kernel_regularizer=kernel_regularizer,
        kernel_initializer=tf_keras.initializers.RandomNormal(stddev=0.01),
        name='logits')

  def call(self, images, training=None):
    features = self.backbone(images, training=training)
    x = self.pool(features[max(features)])
    x = self.dropout(x, training=training)
    return tf.cast(self.head(x), tf.float32)
