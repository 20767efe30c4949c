"""Installs the axial_deeplab_tf package with its pinned stack."""
import setuptools

_EXPORT = ["tf2onnx==1.17.0", "onnx==1.23.2", "onnxruntime==1.32.0"]

setuptools.setup(
    name="axial_deeplab_tf",
    version="0.1.0",
    description=("Axial-DeepLab (Wang et al., ECCV 2020) for TensorFlow, "
                 "as a Model Garden module."),
    packages=setuptools.find_packages(include=["axial_deeplab_tf",
                                               "axial_deeplab_tf.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow~=2.20.0",
        "tf-keras~=2.20",
        "tf-models-official==2.20.0",
        "tensorflow-datasets",
        "absl-py",
        # Imported directly by the dataloaders and converters (all already
        # pulled in by tf-models-official / tensorflow-datasets).
        "pillow",
        "pyyaml",
        "tqdm",
        # numpy 2.4 breaks official.vision.data.fake_feature_generator.
        "numpy<2.4",
    ],
    extras_require={
        # ONNX export (trainer/export_onnx.py) and its onnxruntime check;
        # tested with TF 2.20 and protobuf 7 (tf2onnx 1.17 no longer pins
        # protobuf 3.20).
        "export": _EXPORT,
        # `make test` installs .[test]: the ONNX parity test needs _EXPORT.
        "test": ["pytest", "pytest-xdist"] + _EXPORT,
    },
)
