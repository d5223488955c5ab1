from django.contrib import admin
from django.urls import include, path

# No MEDIA_URL route: the admin serves stored images through its own views.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("wxpay/complaints/", include("django_wxpay_media.complaints.urls")),
]
