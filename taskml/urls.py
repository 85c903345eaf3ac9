from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from datasets.apis import DatasetViewSet
from jobs.apis import JobViewSet, UsageView
from models_app.apis import TrainedModelViewSet
from streaming.apis import LiveSessionViewSet
from videos.apis import FeatureFileViewSet, LabelSpanViewSet, VideoViewSet

router = DefaultRouter()
router.register("videos", VideoViewSet, basename="video")
router.register("label-spans", LabelSpanViewSet, basename="labelspan")
router.register("feature-files", FeatureFileViewSet, basename="featurefile")
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("models", TrainedModelViewSet, basename="trainedmodel")
router.register("jobs", JobViewSet, basename="job")
router.register("live-sessions", LiveSessionViewSet, basename="livesession")

urlpatterns = [
    path("", include("web.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("backend/", include("backend.urls")),
    path("ls-backend/", include("lsbackend.urls")),
    path("api/v1/usage/", UsageView.as_view(), name="usage"),
    path("api/v1/", include(router.urls)),
    path("api/v1/", include("learning.urls")),
    path("api/v1/", include("retraining.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api-auth/", include("rest_framework.urls")),
]
