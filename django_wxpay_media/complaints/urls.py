"""URLconf of the complaint desk: include it under a path of your choosing::

    path("wxpay/complaints/", include("django_wxpay_media.complaints.urls")),

WeChat Pay then POSTs to ``…/wxpay/complaints/notify/``.
"""

from django.urls import path

from . import views

app_name = "wxpay_complaints"

urlpatterns = [
    path("notify/", views.notification, name="notify"),
]
