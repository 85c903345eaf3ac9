from django.urls import path

from web import views

urlpatterns = [
    path("", views.videos, name="home"),
    path("videos/", views.videos, name="videos"),
    path("videos/<int:pk>/", views.video, name="video"),
    path("datasets/", views.datasets, name="datasets"),
    path("datasets/<int:pk>/", views.dataset, name="dataset"),
    path("models/", views.models, name="models"),
    path("models/<int:pk>/", views.model, name="model"),
    path("live/", views.live, name="live"),
    path("retraining/", views.retraining, name="retraining"),
]
