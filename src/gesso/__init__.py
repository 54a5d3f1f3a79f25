"""Gesso: an in-house text-to-image platform."""

from gesso.offline import force_offline

force_offline()

__version__ = "0.1.0"
