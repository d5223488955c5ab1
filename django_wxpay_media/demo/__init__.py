"""A small example app: complaint replies that carry uploaded feedback images.

Add ``"django_wxpay_media.demo"`` to ``INSTALLED_APPS`` to try it in the admin;
its code is the README's example of attaching images to a model of your own.
"""
