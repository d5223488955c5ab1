"""URLs of the demo site: the admin and the complaint notifications.

No ``MEDIA_URL`` route: the admin serves the stored images itself, to staff only.
"""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    # Where the sandbox (WeChat Pay's stand-in) POSTs complaint notifications.
    path("wxpay/complaints/", include("django_wxpay_media.complaints.urls")),
]
