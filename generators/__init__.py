"""Data side of the engine: MNIST / image-folder loading and the distortion generator."""
from .distort import DistortionConfig, distort
from .mnist import MnistDataError, load_mnist
from .folder import load_image_folder


def build_albumentations(*args, **kwargs):
    """Lazy import: albumentations (and cv2) load only when the CPU backend is used."""
    from .albu import build_albumentations as _b
    return _b(*args, **kwargs)


__all__ = ["DistortionConfig", "distort", "load_mnist", "load_image_folder", "MnistDataError",
           "build_albumentations"]
