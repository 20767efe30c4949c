"""The package's tf_keras layers, importable by their public names."""

from axial_deeplab_tf.layers.attention import AxialAttention2D
from axial_deeplab_tf.layers.attention import PositionSensitiveAxialAttention
from axial_deeplab_tf.layers.blocks import AxialBottleneckBlock
from axial_deeplab_tf.layers.blocks import ConvBottleneckBlock
from axial_deeplab_tf.layers.normalization import TermBatchNormalization
from axial_deeplab_tf.layers.stems import AxialStem
from axial_deeplab_tf.layers.stems import ResNetStem
from axial_deeplab_tf.layers.stems import ThreeConvStem
