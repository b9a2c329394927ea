"""What the model tests check against: torchvision's parameter counts of the five ResNets (1000 classes)."""

from __future__ import annotations

TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}
