"""What a dataset is, independent of any model: the image normalization
constants and the panoptic label encoding that every later stage (targets,
post-processing, evaluation, serving) reads from here."""
