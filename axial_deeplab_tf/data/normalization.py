"""Input normalization: the ImageNet channel mean and standard deviation.

Images in [0, 1] are normalized as `(image - MEAN) / STD` per RGB channel
by the training pipelines, the export modules and the ONNX/TFLite
converters; these are the defaults of every `mean` / `std` option.
"""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
