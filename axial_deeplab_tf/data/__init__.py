"""What a dataset is, independent of any model: the panoptic label
encoding (`encoding`) that every later stage (targets, post-processing,
evaluation, serving) reads from here, the image normalization constants
(`normalization`), the tf.Example schema of the stored files (`schema`) and
the converters that write them with their metadata (`converters`)."""
