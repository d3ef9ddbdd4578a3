import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def photos():
    """Three held-out sample photographs, centre-cropped to 96x96: (3, 3, 96, 96) in [0, 1]."""
    from helpers.data import center_crop, sample_images

    return torch.stack([center_crop(img, 96) for img in sample_images("val").values()])
