"""polypnet: polyp segmentation with the Improved Attention MobileU-Net (IAM-UNet)."""

from .models import IAMUNet, count_parameters, create_model, list_models, register_model

__version__ = "0.1.0"

__all__ = ["IAMUNet", "__version__", "count_parameters", "create_model", "list_models", "register_model"]
