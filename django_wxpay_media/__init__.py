"""Upload WeChat Pay complaint feedback images from Django."""

__version__ = "0.1.0"
