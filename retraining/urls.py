from django.urls import include, path
from rest_framework.routers import SimpleRouter

from retraining.apis import PromotionViewSet, RetrainPolicyViewSet, RetrainRunViewSet

router = SimpleRouter()
router.register("retrain-policies", RetrainPolicyViewSet, basename="retrainpolicy")
router.register("retrain-runs", RetrainRunViewSet, basename="retrainrun")
router.register("promotions", PromotionViewSet, basename="promotion")

urlpatterns = [path("", include(router.urls))]
