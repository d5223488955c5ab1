from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("wxpay/complaints/", include("django_wxpay_media.complaints.urls")),
]
