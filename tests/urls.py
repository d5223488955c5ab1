from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("wxpay/complaints/", include("django_wxpay_media.complaints.urls")),
    # Thumbnails in the admin list need the stored files served (DEBUG is off in tests).
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
