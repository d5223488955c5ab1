"""URLs with the desk on admin sites of their own, beside the default one (for test_desk_admin_site.py).

``desk`` registers the complaint admin as shipped; ``scoped`` a subclass whose
``get_queryset`` lists one merchant's complaints only.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from django_wxpay_media.complaints.admin import ComplaintAdmin, NotificationAdmin
from django_wxpay_media.complaints.models import Complaint, Notification
from tests.urls import urlpatterns as default_urlpatterns

SCOPED_MCHID = "1900000109"


class ScopedComplaintAdmin(ComplaintAdmin):
    def get_queryset(self, request):
        return super().get_queryset(request).filter(complainted_mchid=SCOPED_MCHID)


desk_site = admin.AdminSite(name="desk")
desk_site.register(Complaint, ComplaintAdmin)
desk_site.register(Notification, NotificationAdmin)

scoped_site = admin.AdminSite(name="scoped")
scoped_site.register(Complaint, ScopedComplaintAdmin)

urlpatterns = [path("desk/", desk_site.urls), path("scoped/", scoped_site.urls), *default_urlpatterns]
