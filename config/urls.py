from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from members.views.home import home

urlpatterns = [
    path("", home, name="home"),
    path("staff/", include("loyalty.urls.staff")),
    path("till/", include("loyalty.urls.till")),
    path("me/", include("members.urls.portal")),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
