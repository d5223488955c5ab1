"""The demo site that ``python -m django_wxpay_media demo`` serves: a complaint desk on the sandbox.

Not an app to install: :mod:`.settings` and :mod:`.urls` make the site (the upload
app and :mod:`django_wxpay_media.complaints`), :mod:`.runner` starts it with the
sandbox, and :mod:`.desk` seeds complaints and has the sandbox notify the site.
"""
