from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from core import api, health, metrics, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("backups.urls")),
    path("", include("scheduling.urls")),
    path("", include("channels.urls")),
    path("", include("jobs.urls")),
    path("", include("notifications.urls")),
    path("api", api.no_such_endpoint, name=api.NO_SUCH_ENDPOINT),  # the API's JSON 404, not APPEND_SLASH's redirect to /api/
    path("api/", api.urls()),
    path("account/tokens", views.api_tokens, name="api_tokens"),
    path("account/tokens/<int:pk>/revoke", views.api_token_revoke, name="api_token_revoke"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
]

# The API's 400 for what Django refuses before any view (a bad Host header) is JSON too.
handler400 = "core.views.bad_request"
