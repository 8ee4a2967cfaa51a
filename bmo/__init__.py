"""bmo: a Python peer of the Metal3 baremetal-operator."""

__version__ = "0.1.0"
