"""Small, fast, seeded datasets for tests and examples.

TorchGeo's habit: fake data generated in place, never downloaded.
"""

from .fake_data import write_tiny_hmc, write_tiny_image_manifest

__all__ = ["write_tiny_hmc", "write_tiny_image_manifest"]
