"""URLs of the demo site: the admin, the complaint notifications, and the stored images."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from django.views.static import serve

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    # Where the sandbox (WeChat Pay's stand-in) POSTs complaint notifications.
    path("wxpay/complaints/", include("django_wxpay_media.complaints.urls")),
    # No web server in front of the demo: Django serves the stored images itself.
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
