"""Installs the axial_deeplab_tf package with its pinned stack."""
import setuptools

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
    extras_require={"test": ["pytest"]},
)
