from django.urls import include, path
from rest_framework.routers import DefaultRouter

from learning.apis import AblationViewSet, LabellingRoundViewSet, SuggestedSpanViewSet

router = DefaultRouter()
router.include_root_view = False
router.register("labelling-rounds", LabellingRoundViewSet, basename="labellinground")
router.register("suggested-spans", SuggestedSpanViewSet, basename="suggestedspan")
router.register("ablations", AblationViewSet, basename="ablation")

urlpatterns = [path("", include(router.urls))]
