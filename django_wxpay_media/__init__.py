"""Upload WeChat Pay complaint feedback images from Django."""

#: The one version source: setup.cfg reads it (``version = attr:``), and an installed
#: copy reports it through ``importlib.metadata.version("django-wxpay-media")``.
#: Between releases it is the next release's ``.devN``; CHANGELOG.rst says what is in it.
__version__ = "0.2.0.dev0"
