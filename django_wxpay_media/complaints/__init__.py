"""The complaint desk: answer WeChat Pay consumer complaints (消费者投诉2.0) in the admin.

An optional app: add ``django_wxpay_media.complaints`` to ``INSTALLED_APPS`` after
``django_wxpay_media``, include ``django_wxpay_media.complaints.urls`` for the
notification callback, and migrate. The upload app works without it.
"""
