"""URLconf of the complaint desk: include it under a path of your choosing::

    path("wxpay/complaints/", include("django_wxpay_media.complaints.urls")),

WeChat Pay then POSTs to ``…/wxpay/complaints/notify/`` for the default account, and to
``…/wxpay/complaints/notify/<account>/`` for an account of ``WXPAY_MEDIA['ACCOUNTS']``
(each URL is verified with its own account's keys).
"""

from django.urls import path

from . import views

app_name = "wxpay_complaints"

urlpatterns = [
    path("notify/", views.notification, name="notify"),
    path("notify/<str:account>/", views.notification, name="notify-account"),
]
